"""The Exchange reports in the catalog: each says what Graph v1.0 gives and names the source the rest needs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from m365_pipeline.definitions import build_definitions
from m365_pipeline.exchange.sources import EXCHANGE_REPORTS
from m365_pipeline.settings import load_settings


def test_every_exchange_report_names_its_sources_and_what_it_builds_on_exists(tmp_path: Path) -> None:
    defs = build_definitions(load_settings({"M365_DATA_DIR": str(tmp_path)}))
    keys = {spec.key for spec in defs.resolve_all_asset_specs()}
    for report in EXCHANGE_REPORTS:
        spec = defs.resolve_assets_def(dg.AssetKey(["exchange", report.name])).specs_by_key[
            dg.AssetKey(["exchange", report.name])
        ]
        assert not defs.resolve_assets_def(spec.key).is_executable
        assert report.needs and report.missing, report.name  # Graph v1.0 covers none of them whole
        assert spec.metadata["graph_v1_coverage"] in ("partly", "not_in_graph_v1")
        assert {dep.asset_key for dep in spec.deps} <= keys
    coverage = {report.name: report.covered for report in EXCHANGE_REPORTS}
    assert coverage["delivery"] == coverage["anti_spam"] == "not_in_graph_v1"
    assert coverage["mailbox_monitoring"] == "partly"
