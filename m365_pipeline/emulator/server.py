"""The emulator on a real socket: a threaded HTTP/1.1 server (keep-alive, Content-Length) around
``GraphEmulator.handle``, over http or, given a folder for its certificate, https.

Over https the emulator is addressed exactly as a national cloud is: the authority
``https://127.0.0.1:PORT/<tenant>`` and the Graph base URL ``https://127.0.0.1:PORT/v1.0``, whose scope
``https://127.0.0.1:PORT/.default`` the token endpoint grants. msal, which only speaks https to an authority,
signs in to it once the client trusts the certificate (``SSL_CERT_FILE``).

Usage report downloads answer on a second server, on another port (as Graph's answer to a report points to
another host): ``serve`` starts both and tells the emulator where downloads are.

A "drop" fault sends the status line, the headers (with the full Content-Length) and only the first
``drop_after`` bytes of the body, then closes the socket, so a client meets a genuine mid-body connection loss.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from m365_pipeline.emulator.app import EmulatorRequest, EmulatorResponse, GraphEmulator, encode_json
from m365_pipeline.emulator.certificate import loopback_certificate

TLS_HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServedEmulator:
    """Where a served emulator answers: ``url`` ("https://127.0.0.1:PORT", no path) and, over https, the
    certificate file a client must trust (None over http)."""

    url: str
    certificate: Path | None = None

    @property
    def graph_base_url(self) -> str:
        return f"{self.url}/v1.0"


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Serves one emulator; remembers its open connections so that stopping it also ends the idle
    keep-alive connections (otherwise their threads would go on answering after ``serve()`` has returned)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: GraphEmulator, tls: ssl.SSLContext | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.emulator = emulator
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Over https, the handshake happens here, in the connection's own thread, so that a slow or broken
        client never holds up ``accept``."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(TLS_HANDSHAKE_TIMEOUT)
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # e.g. a client that does not trust the certificate hangs up: nothing to answer
        try:
            wrapped.settimeout(None)
            super().finish_request(wrapped, client_address)
        finally:
            self.shutdown_request(wrapped)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is not an error of the emulator."""
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError | TimeoutError):
            super().handle_error(request, client_address)

    def opened(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the peer closed it already
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request on stderr."""

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        scheme, _, default_host = self.server.url.partition("://")
        host = self.headers.get("Host") or default_host
        request = EmulatorRequest(self.command, f"{scheme}://{host}{self.path}", dict(self.headers.items()), body)
        try:
            response = self.server.emulator.handle(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            payload = {"error": {"code": "InternalServerError", "message": "The emulator failed; see its log."}}
            response = EmulatorResponse(500, {"Content-Type": "application/json"}, encode_json(payload))
        self._write(response)

    def _write(self, response: EmulatorResponse) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        lines.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if response.drop_after is None:
            self.wfile.write(head + response.body)
            return
        self.wfile.write(head + response.body[: response.drop_after])
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def _server(
    emulator: GraphEmulator, host: str, port: int, tls_dir: Path | None
) -> tuple[EmulatorHTTPServer, Path | None]:
    if tls_dir is None:
        return EmulatorHTTPServer((host, port), emulator), None
    files = loopback_certificate(tls_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.certificate, files.key)
    return EmulatorHTTPServer((host, port), emulator, context), files.certificate


@contextmanager
def serve(
    emulator: GraphEmulator, host: str = "127.0.0.1", port: int = 0, tls_dir: Path | None = None
) -> Iterator[ServedEmulator]:
    """Serve ``emulator`` from a background thread, over https with a self-signed certificate kept in
    ``tls_dir`` when given; yields where it answers, and stops the server and every connection to it on exit."""
    server, certificate = _server(emulator, host, port, tls_dir)
    with _downloads(emulator, host, tls_dir):
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="graph-emulator", daemon=True
        )
        thread.start()
        try:
            yield ServedEmulator(server.url, certificate)
        finally:
            _stop(server, thread)


@contextmanager
def _downloads(emulator: GraphEmulator, host: str, tls_dir: Path | None) -> Iterator[None]:
    """The download host of usage reports, on a port of its own, for as long as the context lasts."""
    server, _ = _server(emulator, host, 0, tls_dir)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="report-downloads", daemon=True
    )
    thread.start()
    emulator.usage_reports.download_base = server.url
    try:
        yield
    finally:
        _stop(server, thread)


def _stop(server: EmulatorHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.close_connections()
    server.server_close()
    thread.join()


def serve_forever(
    emulator: GraphEmulator,
    host: str,
    port: int,
    tls_dir: Path | None = None,
    on_ready: Callable[[ServedEmulator], None] | None = None,
) -> None:
    """Serve ``emulator`` in the foreground until interrupted (the CLI's ``m365 emulator serve``); ``on_ready``
    learns where, once the socket is bound (port 0 picks a free port)."""
    server, certificate = _server(emulator, host, port, tls_dir)
    with _downloads(emulator, host, tls_dir):
        try:
            if on_ready is not None:
                on_ready(ServedEmulator(server.url, certificate))
            server.serve_forever()
        finally:
            server.close_connections()
            server.server_close()
