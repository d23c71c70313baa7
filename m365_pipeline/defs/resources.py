"""Dagster resources: thin handles over the domain code, configured only by settings.

The resources carry no configuration fields of their own: every value (secrets included) is read from the
environment by ``m365_pipeline.settings`` when a run starts, so nothing secret is ever shown in the UI or
frozen at code-location load.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.graph.client import GraphClient
from m365_pipeline.raw_store import RawStore
from m365_pipeline.settings import Settings, load_settings
from m365_pipeline.sources import graph_client
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import upgrade_to_head


class M365Settings(dg.ConfigurableResource):
    """The settings of this run, read from M365_* environment variables when the run starts."""

    @cached_property
    def current(self) -> Settings:
        return load_settings()

    @cached_property
    def raw_store(self) -> RawStore:
        """Where raw extracts live (M365_RAW_STORE): the one place every asset finds its input."""
        return RawStore(self.current.raw_store, s3_endpoint_url=self.current.s3_endpoint_url)


class GraphSource(dg.ConfigurableResource):
    """Microsoft Graph, or the bundled emulator when no tenant is configured."""

    settings: dg.ResourceDependency[M365Settings]

    @contextmanager
    def client(self, tenant: str) -> Iterator[GraphClient]:
        with graph_client(self.settings.current, tenant) as client:
            yield client


class Warehouse(dg.ConfigurableResource):
    """The warehouse database (SQLite by default, PostgreSQL in production), migrated to head on first use."""

    settings: dg.ResourceDependency[M365Settings]

    @cached_property
    def engine(self) -> sa.Engine:
        engine = create_warehouse_engine(self.settings.current.database_url)
        upgrade_to_head(engine)
        return engine

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if "engine" in self.__dict__:  # only if a step used it
            self.engine.dispose()


def build_resources() -> dict[str, object]:
    settings = M365Settings()
    return {
        "settings": settings,
        "graph": GraphSource(settings=settings),
        "warehouse": Warehouse(settings=settings),
    }
