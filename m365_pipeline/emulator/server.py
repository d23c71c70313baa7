"""The emulator on a real socket: a threaded HTTP/1.1 server (keep-alive, Content-Length) around
``GraphEmulator.handle``.

A "drop" fault sends the status line, the headers (with the full Content-Length) and only the first
``drop_after`` bytes of the body, then closes the socket, so a client meets a genuine mid-body connection loss.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from m365_pipeline.emulator.app import EmulatorRequest, EmulatorResponse, GraphEmulator, encode_json


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Serves one emulator; remembers its open connections so that stopping it also ends the idle
    keep-alive connections (otherwise their threads would go on answering after ``serve()`` has returned)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: GraphEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

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
        host = self.headers.get("Host") or self.server.url.removeprefix("http://")
        request = EmulatorRequest(self.command, f"http://{host}{self.path}", dict(self.headers.items()), body)
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


@contextmanager
def serve(emulator: GraphEmulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``emulator`` from a background thread; yields its base URL ("http://127.0.0.1:PORT") and stops
    the server, and every connection to it, on exit."""
    server = EmulatorHTTPServer((host, port), emulator)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="graph-emulator", daemon=True
    )
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()


def serve_forever(emulator: GraphEmulator, host: str, port: int) -> None:
    """Serve ``emulator`` in the foreground until interrupted (the CLI's ``m365 emulator serve``)."""
    server = EmulatorHTTPServer((host, port), emulator)
    try:
        server.serve_forever()
    finally:
        server.close_connections()
        server.server_close()
