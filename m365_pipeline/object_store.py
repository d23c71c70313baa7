"""S3 (or any S3-compatible endpoint) through pyarrow's filesystem: the one way the raw store and the snapshot
store reach it, so they read credentials and endpoints alike (credentials from the AWS environment, as boto3)."""

from __future__ import annotations

from typing import Any

import pyarrow.fs as pafs


def s3_filesystem(endpoint_url: str | None) -> pafs.S3FileSystem:
    """S3 at ``endpoint_url`` (None: AWS itself); an ``http://`` endpoint is spoken to without TLS."""
    options: dict[str, Any] = {}
    if endpoint_url:
        options["endpoint_override"] = endpoint_url
        if endpoint_url.startswith("http://"):
            options["scheme"] = "http"
    return pafs.S3FileSystem(**options)
