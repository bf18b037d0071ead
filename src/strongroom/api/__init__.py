"""The HTTP API v1 (FastAPI): routes translate, the engine and features decide."""
