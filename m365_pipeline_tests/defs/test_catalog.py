"""The catalog cannot change by accident: every asset's spec is compared with a reviewed snapshot, and the code
location validates as Dagster and dg load it.

After an intended change, write the new snapshot with `M365_UPDATE_SNAPSHOT=1 pytest
m365_pipeline_tests/defs/test_catalog.py` and review its diff like code.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from m365_pipeline.definitions import build_definitions
from m365_pipeline.settings import load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("catalog_snapshot.json")
BIN = Path(sys.executable).parent
CATALOG_TIME = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
"""The time the daily partitions are listed at: their keys grow every day, the reviewed catalog must not."""


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    data_dir = tmp_path_factory.mktemp("catalog")
    return build_definitions(load_settings({"M365_DATA_DIR": str(data_dir)}))


def _column(column: dg.TableColumn) -> dict[str, Any]:
    return {
        "name": column.name,
        "type": column.type,
        "description": column.description,
        "nullable": column.constraints.nullable,
        "tags": dict(column.tags),
    }


def _keys(partitions: dg.PartitionsDefinition) -> list[str]:
    return list(partitions.get_partition_keys(current_time=CATALOG_TIME))


def catalog_snapshot(defs: dg.Definitions) -> dict[str, Any]:
    """Everything the UI shows of each asset, as plain data."""
    graph = defs.resolve_asset_graph()
    snapshot: dict[str, Any] = {}
    for spec in sorted(defs.resolve_all_asset_specs(), key=lambda spec: spec.key.to_user_string()):
        node = graph.get(spec.key)
        schema = spec.metadata.get("dagster/column_schema")
        partitions = spec.partitions_def
        checks = sorted(
            (check for check in graph.asset_check_keys if check.asset_key == spec.key), key=lambda check: check.name
        )
        snapshot[spec.key.to_user_string()] = {
            "description": spec.description,
            "group": spec.group_name,
            "owners": list(spec.owners),
            "kinds": sorted(spec.kinds),
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "pools": sorted(node.pools or ()),
            "partitions": None
            if partitions is None
            else {"type": type(partitions).__name__, "name": partitions.name}
            if isinstance(partitions, dg.DynamicPartitionsDefinition)  # its keys live in the instance
            else {"type": type(partitions).__name__, "keys": _keys(partitions)},
            "automation": None if spec.automation_condition is None else str(spec.automation_condition),
            "columns": [_column(column) for column in schema.columns] if schema is not None else None,
            "metadata": sorted(
                name for name in spec.metadata if not name.startswith(("dagster/code_references", "dagster/column"))
            ),
            "checks": [
                {
                    "name": check.name,
                    "blocking": graph.get_check_spec(check).blocking,
                    "description": graph.get_check_spec(check).description,
                }
                for check in checks
            ],
        }
    return snapshot


def test_every_asset_spec_equals_the_reviewed_snapshot(defs: dg.Definitions) -> None:
    actual = catalog_snapshot(defs)
    if os.environ.get("M365_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert actual == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_every_asset_and_every_column_is_documented(defs: dg.Definitions) -> None:
    for key, entry in catalog_snapshot(defs).items():
        assert entry["description"] and len(entry["description"]) > 40, key
        assert entry["owners"] == ["team:m365-data"], key
        if entry["group"] == "snapshots":  # a snapshot is of the whole system (no tenant), and not a table
            assert entry["partitions"] is None, key
            continue
        assert entry["columns"], key
        for column in entry["columns"]:
            assert column["description"], (key, column["name"])
            assert column["tags"].get("pii") in ("direct_identifier", "quasi_identifier", "none"), (key, column)
            assert column["nullable"] in (True, False), (key, column)
        assert entry["partitions"] is not None and (entry["partitions"].get("keys") or entry["partitions"]["name"]), key


def test_code_references_link_every_asset_to_its_source(defs: dg.Definitions) -> None:
    for spec in defs.resolve_all_asset_specs():
        assert any(name.startswith("dagster/code_references") for name in spec.metadata), spec.key


def test_lineage_runs_from_raw_extract_to_report(defs: dg.Definitions) -> None:
    report = dg.AssetKey(["reports", "entra_id", "user_list"])
    ancestors = {key.to_user_string() for key in defs.resolve_asset_graph().upstream_key_iterator(report)}
    assert {"raw/users", "raw/subscribed_skus", "warehouse/users", "warehouse/skus"} <= ancestors


def test_graph_extracts_share_the_graph_api_pool(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    pools = {key.to_user_string(): graph.get(key).pools for key in graph.get_all_asset_keys()}
    assert {key for key, pool in pools.items() if pool == {"graph_api"}} == {
        key for key in pools if key.startswith("raw/") or key == "warehouse/directory_delta"
    }


@pytest.mark.parametrize(
    "command",
    [["dagster", "definitions", "validate", "-w", "workspace.yaml"], ["dg", "check", "defs"]],
    ids=["dagster-definitions-validate", "dg-check-defs"],
)
def test_the_code_location_validates(command: list[str]) -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("M365_", "DAGSTER_"))}
    completed = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
