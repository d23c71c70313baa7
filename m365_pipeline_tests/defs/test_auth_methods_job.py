"""The opt-in job of users' authentication methods: left out of ``main``; run after it, it loads every user's
methods into the warehouse and its check passes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.directory.auth_methods import AUTH_METHODS_JOB_NAME, METHODS_BELONG_TO_USERS
from m365_pipeline.defs.jobs import MAIN_JOB_NAME
from m365_pipeline.emulator.auth_methods import authentication_methods
from m365_pipeline.emulator.tenant import REFERENCE_TIME, generate_tenant
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse.auth_method_tables import user_authentication_methods
from m365_pipeline_tests.defs.conftest import SLICE_SEED, SLICE_USERS

METHODS_KEYS = {
    dg.AssetKey(["raw", "user_authentication_methods"]),
    dg.AssetKey(["warehouse", "user_authentication_methods"]),
}


def test_the_methods_job_is_opt_in_and_loads_every_users_methods(embedded_default: Path) -> None:
    definitions = build_definitions(load_settings())
    main = definitions.resolve_job_def(MAIN_JOB_NAME)
    methods_job = definitions.resolve_job_def(AUTH_METHODS_JOB_NAME)
    assert not METHODS_KEYS & set(main.asset_layer.executable_asset_keys)
    assert set(methods_job.asset_layer.executable_asset_keys) == METHODS_KEYS
    tenant = generate_tenant(SLICE_SEED, SLICE_USERS)
    instance = dg.DagsterInstance.ephemeral()

    assert main.execute_in_process(instance=instance, partition_key=tenant.tenant_id).success
    result = methods_job.execute_in_process(instance=instance, partition_key=tenant.tenant_id)

    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == METHODS_BELONG_TO_USERS and check.passed
    expected = {
        (user["id"], method["id"]) for user in tenant.users for method in authentication_methods(user, REFERENCE_TIME)
    }
    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    with engine.connect() as connection:
        table = user_authentication_methods
        loaded = set(connection.execute(sa.select(table.c.user_id, table.c.method_id)).tuples())
    engine.dispose()
    assert loaded == expected
