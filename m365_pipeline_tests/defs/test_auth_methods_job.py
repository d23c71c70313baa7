"""The opt-in job of users' authentication methods: left out of ``main``; run after it, it loads every user's
methods into the warehouse and its check passes; once a user with methods is gone from ``users``, the check
``methods_belong_to_users`` warns, naming the user."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.directory.auth_methods import AUTH_METHODS_JOB_NAME, METHODS_BELONG_TO_USERS
from m365_pipeline.defs.jobs import MAIN_JOB_NAME
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.auth_methods import authentication_methods
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import REFERENCE_TIME, generate_tenant
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse.auth_method_tables import user_authentication_methods

SEED, USERS = 44, 200
RAW_KEY = dg.AssetKey(["raw", "user_authentication_methods"])
WAREHOUSE_KEY = dg.AssetKey(["warehouse", "user_authentication_methods"])


def test_the_methods_job_is_opt_in_loads_every_users_methods_and_warns_of_users_gone(
    embedded_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = generate_tenant(SEED, USERS)
    emulator = GraphEmulator(tenant)
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(USERS))
    instance = dg.DagsterInstance.ephemeral()
    with serve(emulator) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        definitions = build_definitions(load_settings())
        main = definitions.resolve_job_def(MAIN_JOB_NAME)
        methods_job = definitions.resolve_job_def(AUTH_METHODS_JOB_NAME)
        assert not {RAW_KEY, WAREHOUSE_KEY} & set(main.asset_layer.executable_asset_keys)
        assert set(methods_job.asset_layer.executable_asset_keys) == {RAW_KEY, WAREHOUSE_KEY}

        assert main.execute_in_process(instance=instance, partition_key=tenant.tenant_id).success
        result = methods_job.execute_in_process(instance=instance, partition_key=tenant.tenant_id)
        assert result.success
        (check,) = result.get_asset_check_evaluations()
        assert check.check_name == METHODS_BELONG_TO_USERS and check.passed

        gone = tenant.users[0]["id"]
        emulator.state().hard_delete(gone)  # the directory is published again without the user; the methods stay
        assert main.execute_in_process(instance=instance, partition_key=tenant.tenant_id).success
        reloaded = methods_job.execute_in_process(
            instance=instance, partition_key=tenant.tenant_id, asset_selection=[WAREHOUSE_KEY]
        )

    assert reloaded.success  # a warning does not fail the load
    (stale,) = reloaded.get_asset_check_evaluations()
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    assert stale.metadata["users_not_in_users"].value == 1
    assert gone in str(stale.metadata["examples"].value)
    expected = {
        (user["id"], method["id"]) for user in tenant.users for method in authentication_methods(user, REFERENCE_TIME)
    }
    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    with engine.connect() as connection:
        table = user_authentication_methods
        loaded = set(connection.execute(sa.select(table.c.user_id, table.c.method_id)).tuples())
    engine.dispose()
    assert loaded == expected
