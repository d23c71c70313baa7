"""The normalized warehouse: tables (schema), engine, Alembic migrations, normalization and loading."""
