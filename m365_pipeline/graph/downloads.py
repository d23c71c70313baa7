"""Downloads that must NOT carry Graph's Authorization header: a usage report's CSV behind its 302.

Graph answers ``reports/get...(period=...)`` with a redirect to a pre-authorized, short-lived URL on another
host; that host refuses a request carrying the bearer token. httpx drops Authorization only on a redirect to
another origin and keeps it on the same one, so the redirect is never followed by the Graph client: the
Location is fetched here, with a client that has no credentials at all, and streamed to a file.
"""

from __future__ import annotations

from pathlib import Path

import httpx

CHUNK_BYTES = 1 << 20


class DownloadError(Exception):
    def __init__(self, status: int, message: str, url: str) -> None:
        host = httpx.URL(url).host
        super().__init__(f"download from {host} failed: HTTP {status} {message}".strip())
        self.status = status


def download_to_file(http: httpx.Client, location: str, destination: Path) -> int:
    """Stream ``location`` into ``destination`` without any Authorization header; returns the bytes written."""
    request = http.build_request("GET", location)
    if "authorization" in request.headers:
        raise ValueError("a report download must not carry an Authorization header; give a client without one")
    written = 0
    try:
        response = http.send(request, stream=True)
    except httpx.TransportError as error:
        raise DownloadError(0, f"{type(error).__name__}: {error}", location) from None
    try:
        if response.status_code != 200:
            response.read()
            raise DownloadError(response.status_code, response.text[:200], location)
        with destination.open("wb") as handle:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                handle.write(chunk)
                written += len(chunk)
    finally:
        response.close()
    return written
