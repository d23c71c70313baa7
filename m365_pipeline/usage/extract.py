"""A usage report from Graph into the raw store: one Parquet file per tenant, report and period, replaced each run.

Graph answers the report with a 302; the Location is downloaded without the Authorization header
(``graph.downloads``) into a staging file, then streamed by Arrow's CSV reader (UTF-8, the byte order mark with the
header line skipped) into Parquet with every column as the text Graph wrote, under its CSV header: the raw file
is the report as sent, whatever columns it had. A download link expires within minutes, so a download that fails
is retried once with a new link.

Concealed names are recognized in the data: while the tenant conceals them, every name column holds a 32-digit
upper-case hexadecimal hash. The file's metadata says whether they were (``m365.names_concealed``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from m365_pipeline.entities.usage_reports import PERIODS, UsageReportSpec
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.downloads import DownloadError, download_to_file
from m365_pipeline.graph.organization import fetch_tenant
from m365_pipeline.raw_store import RawStore, StoredFile

CONCEALED_NAME = r"^[0-9A-F]{32}$"
READ_BLOCK_BYTES = 1 << 20
DOWNLOAD_ATTEMPTS = 2
HEADERS_KEY = "m365.headers"
CONCEALED_KEY = "m365.names_concealed"
REFRESH_DATE_KEY = "m365.report_refresh_date"
REFRESH_HEADER = "Report Refresh Date"


@dataclass(frozen=True)
class ReportExtract:
    report: str
    tenant: str
    period: str
    stored: StoredFile
    headers: tuple[str, ...]
    names_concealed: bool
    refresh_date: str | None
    downloaded_bytes: int


def raw_entity(report: UsageReportSpec) -> str:
    return f"usage_{report.name}"


def extract_report(
    client: GraphClient,
    download_http: httpx.Client,
    store: RawStore,
    report: UsageReportSpec,
    tenant: str,
    period: str,
) -> ReportExtract:
    if period not in PERIODS:
        raise ValueError(f"{report.name}: period {period!r} is not one of {', '.join(PERIODS)}")
    identity = fetch_tenant(client)
    with store.staging() as folder:
        downloaded = folder / f"{report.name}.csv"
        size = _download(client, download_http, report, period, downloaded)
        headers = _headers(downloaded)
        metadata = {
            **identity.as_file_metadata(),
            "m365.report": report.name,
            "m365.period": period,
            "m365.extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            HEADERS_KEY: json.dumps(headers, ensure_ascii=False),
        }
        local = folder / f"{report.name}.parquet"
        concealed, refresh_date = _csv_to_parquet(downloaded, headers, report, metadata, local)
        stored = store.put(local, raw_entity(report), tenant, period)
    return ReportExtract(report.name, tenant, period, stored, tuple(headers), concealed, refresh_date, size)


def _download(
    client: GraphClient,
    http: httpx.Client,
    report: UsageReportSpec,
    period: str,
    destination: Path,
) -> int:
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        location = client.get_redirect_location(report.path(period))
        try:
            return download_to_file(http, location, destination)
        except DownloadError as error:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise DownloadError(error.status, f"{report.name}: {error}", location) from None
    raise AssertionError("unreachable")


def _headers(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        headers = next(csv.reader(handle), [])
    if not headers:
        raise ValueError(f"{path.name}: the report is empty (no header line)")
    repeated = sorted({header for header in headers if headers.count(header) > 1})
    if repeated:
        raise ValueError(f"{path.name}: header {repeated} appears more than once")
    return headers


def _csv_to_parquet(
    source: Path, headers: list[str], report: UsageReportSpec, metadata: dict[str, str], destination: Path
) -> tuple[bool, str | None]:
    """Stream the CSV into Parquet (all text), its metadata saying whether its name columns are all hashes and
    its refresh date; both are found by a first streaming pass, so the file is written once, complete."""
    concealed, refresh_date = _scan(source, headers, report)
    final = {**metadata, CONCEALED_KEY: str(concealed).lower(), REFRESH_DATE_KEY: refresh_date or ""}
    schema = pa.schema([(header, pa.string()) for header in headers]).with_metadata(
        {key.encode(): value.encode() for key, value in final.items()}
    )
    with pq.ParquetWriter(destination, schema) as writer:
        for batch in _batches(source, headers):
            writer.write_batch(batch)
    return concealed, refresh_date


def _batches(source: Path, headers: list[str]) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=headers, skip_rows=1, block_size=READ_BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(headers, pa.string()), strings_can_be_null=False
        ),
    )


def _scan(source: Path, headers: list[str], report: UsageReportSpec) -> tuple[bool, str | None]:
    name_headers = [column.header for column in report.concealable if column.header in headers]
    names = hashed = 0
    refresh_date: str | None = None
    for batch in _batches(source, headers):
        if refresh_date is None and batch.num_rows and REFRESH_HEADER in headers:
            refresh_date = batch.column(headers.index(REFRESH_HEADER))[0].as_py()
        for header in name_headers:
            values = batch.column(headers.index(header))
            present = pc.not_equal(values, "")
            names += pc.sum(present).as_py() or 0
            hashed += pc.sum(pc.and_(present, pc.match_substring_regex(values, CONCEALED_NAME))).as_py() or 0
    return names > 0 and hashed == names, refresh_date
