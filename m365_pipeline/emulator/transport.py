"""The emulator inside the process: an httpx transport that hands each request to ``GraphEmulator.handle``.

No socket is opened. A "drop" fault raises ``httpx.RemoteProtocolError``, as httpx does when a server closes
the connection before the whole body has arrived.
"""

from __future__ import annotations

import httpx

from m365_pipeline.emulator.app import EmulatorRequest, GraphEmulator


class EmulatorTransport(httpx.BaseTransport):
    def __init__(self, emulator: GraphEmulator) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.emulator.handle(
            EmulatorRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers.items()),
                body=request.read(),
            )
        )
        if answer.drop_after is not None:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)
