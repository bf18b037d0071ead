"""Storage: the schema, migrations and every SQL statement of the ledger."""
