"""Graph's delta endpoints replayed from recorded pages shaped as the delta-query documentation's examples:
the thing under test is the client and the warehouse, so Graph's side is the documented answers, page by page.

A page is found by the token of the URL asked for: ``$skiptoken`` (a nextLink), ``$deltatoken`` (a deltaLink),
``latest`` for ``$deltaToken=latest``, else ``first`` (a first call). Each token answers its queue of responses
in turn (the last one again once the queue is spent).
"""

from __future__ import annotations

import random
from typing import Any

import httpx

from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline_tests.graph.fake_clock import FakeClock

BASE = "https://graph.test/v1.0"


class StaticTokens:
    def token(self) -> str:
        return "token"

    def invalidate(self) -> None:
        pass


def page(
    path: str, items: list[dict[str, Any]], *, next_token: str | None = None, delta_token: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.context": f"{BASE}/$metadata#{path.strip('/').split('/')[0]}", "value": items}
    if next_token is not None:
        body["@odata.nextLink"] = f"{BASE}{path}?$skiptoken={next_token}"
    if delta_token is not None:
        body["@odata.deltaLink"] = f"{BASE}{path}?$deltatoken={delta_token}"
    return body


def expired() -> httpx.Response:
    message = "The sync state generation is not found. The delta token is expired and data must be synchronized again."
    return httpx.Response(400, json={"error": {"code": "syncStateNotFound", "message": message}})


def gone(path: str) -> httpx.Response:
    headers = {"Location": f"{BASE}{path}?$deltatoken="}
    return httpx.Response(410, json={"error": {"code": "Gone", "message": "resync required"}}, headers=headers)


class ScriptedGraph(httpx.BaseTransport):
    def __init__(self) -> None:
        self.script: dict[str, list[httpx.Response | dict[str, Any]]] = {}
        self.asked: list[str] = []

    def on(self, token: str, *answers: httpx.Response | dict[str, Any]) -> None:
        self.script[token] = list(answers)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        params = {name.lower(): value for name, value in request.url.params.items()}
        if "$skiptoken" in params:
            token = params["$skiptoken"]
        elif params.get("$deltatoken") == "latest":
            token = "latest"
        elif "$deltatoken" in params:
            token = params["$deltatoken"]
        else:
            token = "first"
        self.asked.append(token)
        answers = self.script.get(token)
        if not answers:
            return httpx.Response(500, json={"error": {"code": "UnscriptedRequest", "message": str(request.url)}})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)


def scripted_client(graph: ScriptedGraph) -> GraphClient:
    return GraphClient(
        BASE,
        StaticTokens(),
        httpx.Client(transport=graph),
        clock=FakeClock(),
        rng=random.Random(0),
        retry=RetryPolicy(max_retries=0),
    )
