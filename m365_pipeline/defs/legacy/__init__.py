"""The legacy CSV migration as Dagster definitions: inbox sensor, one dynamic partition per file."""
