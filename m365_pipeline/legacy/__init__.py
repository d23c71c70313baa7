"""Migration of the old PowerShell tool's CSV reports (plain Python, no Dagster).

- `reading`: encoding and dialect detection, streaming records with their numbers;
- `layouts`: the catalogue of every layout as data, recognition by header names;
- `values`: parsers for every value form of the catalogue, placeholders;
- `rows`: typed and quarantined rows;
- `files`: `read_legacy_file(path) -> LegacyFile`, the entry point.
"""

from m365_pipeline.legacy.files import LegacyFile, read_legacy_file
from m365_pipeline.legacy.layouts import REPORT_TYPES, Column, Layout, ReportType, UnknownLayout, recognize
from m365_pipeline.legacy.reading import LegacyEncodingError
from m365_pipeline.legacy.rows import PlaceholderFlag, Problem, QuarantinedRow, TypedRow

__all__ = [
    "REPORT_TYPES",
    "Column",
    "Layout",
    "LegacyEncodingError",
    "LegacyFile",
    "PlaceholderFlag",
    "Problem",
    "QuarantinedRow",
    "ReportType",
    "TypedRow",
    "UnknownLayout",
    "read_legacy_file",
    "recognize",
]
