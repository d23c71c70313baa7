"""The directory tests run on both warehouse dialects (the warehouse tests' fixtures)."""

from m365_pipeline_tests.warehouse.conftest import engine, warehouse_url

__all__ = ["engine", "warehouse_url"]
