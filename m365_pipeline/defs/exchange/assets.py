"""The old tool's Exchange reports in the catalog: each an external asset saying what Graph v1.0 provides for it
and which source the rest needs. None is materialized here; their Graph parts are the usage report assets."""

import inspect

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema
from m365_pipeline.exchange import sources
from m365_pipeline.exchange.sources import EXCHANGE_REPORTS

GROUP = "exchange_sources"
EXCHANGE_SOURCES = dg.AssetSelection.groups(GROUP)


def build_exchange_source_specs(partitions: dg.PartitionsDefinition) -> list[dg.AssetSpec]:
    source_file = inspect.getsourcefile(sources) or ""
    return [
        dg.AssetSpec(
            dg.AssetKey(["exchange", report.name]),
            description=(
                f"The old tool's {report.legacy_report}. Graph v1.0: "
                f"{'; '.join(report.graph_v1) or 'nothing'}. Not in Graph v1.0: {report.missing}."
            ),
            deps=[dg.AssetKey.from_user_string(key) for key in report.covered_by],
            group_name=GROUP,
            kinds={"exchange"},
            owners=OWNERS,
            partitions_def=partitions,
            metadata={
                "dagster/column_schema": column_schema(
                    (column.name, "text", column.source, str(column.pii), True) for column in report.columns
                ),
                "dagster/code_references": dg.CodeReferencesMetadataValue(
                    code_references=[dg.LocalFileCodeReference(file_path=source_file, label=report.name)]
                ),
                "graph_v1_coverage": report.covered,
                "needs_source": report.needs or "",
                "legacy_report": report.legacy_report,
            },
        )
        for report in EXCHANGE_REPORTS
    ]
