"""Tenants and API keys: who may call, for which tenant, with which scopes."""
