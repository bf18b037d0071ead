"""The engine: the one write path (units of work, idempotency, outbox) and reads."""
