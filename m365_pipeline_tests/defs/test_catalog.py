"""The catalog cannot change by accident: every asset's spec, its lineage and the code location's validity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from m365_pipeline.definitions import defs

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# key: (group, upstream keys, kinds, checks): the catalog's shape, so that it cannot change by accident
EXPECTED_CATALOG = {
    "raw/organization": ("raw_graph", (), ("azure", "parquet"), ("ids_unique",)),
    "raw/users": ("raw_graph", (), ("azure", "parquet"), ("ids_unique",)),
    "raw/subscribed_skus": ("raw_graph", (), ("azure", "parquet"), ("ids_unique",)),
    "raw/groups": ("raw_graph", (), ("azure", "parquet"), ("ids_unique",)),
    "warehouse/tenants": ("core_directory", ("raw/organization",), ("sql", "table"), ()),
    "warehouse/users": (
        "core_directory",
        ("raw/users", "warehouse/tenants"),
        ("sql", "table"),
        ("source_fully_loaded",),
    ),
    "warehouse/user_licenses": (
        "core_directory",
        ("raw/users", "warehouse/tenants"),
        ("sql", "table"),
        ("source_fully_loaded",),
    ),
    "warehouse/skus": (
        "core_directory",
        ("raw/subscribed_skus", "warehouse/tenants"),
        ("sql", "table"),
        ("consumed_units_match_assignments", "source_fully_loaded"),
    ),
    "warehouse/groups": (
        "core_directory",
        ("raw/groups", "warehouse/tenants"),
        ("sql", "table"),
        ("source_fully_loaded",),
    ),
    "reports/entra_id/user_list": (
        "out_reports",
        ("warehouse/skus", "warehouse/user_licenses", "warehouse/users"),
        ("csv",),
        ("one_row_per_user",),
    ),
}


def _specs() -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_the_catalog_has_the_expected_shape() -> None:
    graph = defs.resolve_asset_graph()
    actual = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        checks = tuple(sorted(check.name for check in graph.asset_check_keys if check.asset_key == key))
        upstream = tuple(sorted(parent.to_user_string() for parent in node.parent_keys))
        actual[key.to_user_string()] = (node.group_name, upstream, tuple(sorted(node.kinds)), checks)
    assert actual == EXPECTED_CATALOG


def test_every_asset_is_documented() -> None:
    for key, spec in _specs().items():
        assert spec.description and len(spec.description) > 40, key
        assert spec.owners == ["team:m365-data"], key
        schema = spec.metadata.get("dagster/column_schema")
        assert isinstance(schema, dg.TableSchema) and schema.columns, key
        assert any(name.startswith("dagster/code_references") for name in spec.metadata), key


def test_warehouse_columns_carry_descriptions() -> None:
    for key, spec in _specs().items():
        if key.startswith("warehouse/"):
            schema = spec.metadata["dagster/column_schema"]
            assert all(column.description for column in schema.columns), key


def test_lineage_runs_from_raw_extract_to_report() -> None:
    report = dg.AssetKey(["reports", "entra_id", "user_list"])
    ancestors = {key.to_user_string() for key in defs.resolve_asset_graph().upstream_key_iterator(report)}
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
