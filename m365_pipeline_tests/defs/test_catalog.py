"""The catalog cannot change by accident: every asset's spec, its lineage and the code location's validity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from m365_pipeline.definitions import defs

PROJECT_ROOT = Path(__file__).resolve().parents[2]

EXPECTED_GROUPS = {
    "raw/organization": "raw_graph",
    "raw/users": "raw_graph",
    "raw/subscribed_skus": "raw_graph",
    "raw/groups": "raw_graph",
    "warehouse/tenants": "core_directory",
    "warehouse/users": "core_directory",
    "warehouse/user_licenses": "core_directory",
    "warehouse/skus": "core_directory",
    "warehouse/groups": "core_directory",
    "reports/entra_id/user_list": "out_reports",
}


def _specs() -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_every_asset_is_cataloged() -> None:
    specs = _specs()
    assert {key: spec.group_name for key, spec in specs.items()} == EXPECTED_GROUPS
    for key, spec in specs.items():
        assert spec.description and len(spec.description) > 40, key
        assert spec.owners == ["team:m365-data"], key
        assert 1 <= len(spec.kinds) <= 3, key
        schema = spec.metadata.get("dagster/column_schema")
        assert isinstance(schema, dg.TableSchema) and schema.columns, key
        assert any(name.startswith("dagster/code_references") for name in spec.metadata), key


def test_warehouse_columns_carry_descriptions() -> None:
    for key, spec in _specs().items():
        if key.startswith("warehouse/"):
            schema = spec.metadata["dagster/column_schema"]
            assert all(column.description for column in schema.columns), key


def test_lineage_runs_from_raw_extract_to_report() -> None:
    graph = defs.resolve_asset_graph()
    report = dg.AssetKey(["reports", "entra_id", "user_list"])
    upstream = {key.to_user_string() for key in graph.get(report).parent_keys}
    assert upstream == {"warehouse/users", "warehouse/user_licenses", "warehouse/skus"}
    users = graph.get(dg.AssetKey(["warehouse", "users"]))
    assert {key.to_user_string() for key in users.parent_keys} == {"raw/users", "warehouse/tenants"}
    ancestors = {key.to_user_string() for key in graph.upstream_key_iterator(report)}
    assert {"raw/users", "raw/organization", "raw/subscribed_skus"} <= ancestors


def test_every_layer_has_a_check() -> None:
    checked = {key.asset_key.to_user_string().split("/")[0] for key in defs.resolve_asset_graph().asset_check_keys}
    assert checked == {"raw", "warehouse", "reports"}


def test_graph_extracts_share_the_graph_api_pool() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] == "raw":
            assert graph.get(key).pools == {"graph_api"}, key


def test_dagster_definitions_validate() -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
