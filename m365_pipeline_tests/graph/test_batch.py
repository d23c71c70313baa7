"""``$batch``: answers matched by id in any order, inner 429s retried on their own Retry-After, whole-batch 429
and 424 retried, bounded concurrency. Graph's side is a small server written to json-batching.md (answers
shuffled, each inner request throttled as scripted), since the thing under test is the client."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict

import httpx
import pytest

from m365_pipeline.graph.batch import BatchClient, BatchRequest
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphRetriesExhausted
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline_tests.graph.fake_clock import FakeClock

BASE = "https://graph.test/v1.0"


class StaticTokens:
    def token(self) -> str:
        return "token"

    def invalidate(self) -> None:
        pass


class BatchGraph(httpx.BaseTransport):
    """``POST /v1.0/$batch`` as json-batching.md describes it. ``inner_failures[url]`` is a list of (status,
    Retry-After or None) answered to that URL's first attempts; ``batch_failures`` the same for whole batches."""

    def __init__(
        self,
        clock: FakeClock,
        inner_failures: dict[str, list[tuple[int, str | None]]] | None = None,
        batch_failures: list[tuple[int, str | None]] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.clock = clock
        self.inner_failures = {url: list(failures) for url, failures in (inner_failures or {}).items()}
        self.batch_failures = list(batch_failures or [])
        self.delay = delay
        self.rng = random.Random(1)
        self.posts: list[tuple[float, list[str]]] = []  # (clock time, urls) of each batch that was answered
        self.attempt_times: dict[str, list[float]] = defaultdict(list)
        self.retry_after_given: dict[str, list[float]] = defaultdict(list)
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/v1.0/$batch"
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self.batch_failures:
                status, retry_after = self.batch_failures.pop(0)
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                body = {"error": {"code": "TooManyRequests" if status == 429 else "FailedDependency", "message": "x"}}
                return httpx.Response(status, json=body, headers=headers)
            requests = json.loads(request.content)["requests"]
            ids = [inner["id"] for inner in requests]
            if len(requests) > 20 or len(set(ids)) != len(ids):
                return httpx.Response(400, json={"error": {"code": "BadRequest", "message": "bad batch"}})
            now = self.clock.now()
            self.posts.append((now, [inner["url"] for inner in requests]))
            responses = []
            for inner in requests:
                url = inner["url"]
                self.attempt_times[url].append(now)
                failures = self.inner_failures.get(url)
                if failures:
                    status, retry_after = failures.pop(0)
                    headers = {"Retry-After": retry_after} if retry_after is not None else {}
                    if retry_after is not None:
                        self.retry_after_given[url].append(float(retry_after))
                    error = {"error": {"code": "TooManyRequests", "message": "throttled"}}
                    responses.append({"id": inner["id"], "status": status, "headers": headers, "body": error})
                elif url.endswith("/missing"):
                    error = {"error": {"code": "Request_ResourceNotFound", "message": "gone"}}
                    responses.append({"id": inner["id"], "status": 404, "headers": {}, "body": error})
                else:
                    body = {"value": [{"id": url}]}
                    responses.append({"id": inner["id"], "status": 200, "headers": {}, "body": body})
            self.rng.shuffle(responses)
            return httpx.Response(200, json={"responses": responses})


def batch_client(transport: BatchGraph, clock: FakeClock, *, concurrency: int = 1, retries: int = 6) -> BatchClient:
    client = GraphClient(
        BASE,
        StaticTokens(),
        httpx.Client(transport=transport),
        clock=clock,
        rng=random.Random(0),
        retry=RetryPolicy(max_retries=retries),
    )
    return BatchClient(client, concurrency=concurrency)


def requests_for(count: int) -> list[BatchRequest]:
    return [
        BatchRequest(key=f"user{number}", url=f"/users/u{number}/authentication/methods") for number in range(count)
    ]


def test_every_request_is_answered_once_with_its_own_body_whatever_the_order(clock: FakeClock) -> None:
    graph = BatchGraph(clock)
    answers = list(batch_client(graph, clock).run(requests_for(45)))
    assert Counter(answer.key for answer in answers) == Counter(f"user{number}" for number in range(45))
    for answer in answers:
        number = answer.key.removeprefix("user")
        assert answer.ok and answer.body == {"value": [{"id": f"/users/u{number}/authentication/methods"}]}
    assert [len(urls) for _, urls in graph.posts] == [20, 20, 5]


def test_each_inner_429_waits_its_own_retry_after_and_the_others_are_kept(clock: FakeClock) -> None:
    failures = {
        "/users/u3/authentication/methods": [(429, "2.128"), (429, "1")],
        "/users/u7/authentication/methods": [(429, "5")],
        "/users/u11/authentication/methods": [(503, None)],  # no Retry-After: backoff
        "/users/u30/authentication/methods": [(504, "0")],
    }
    graph = BatchGraph(clock, inner_failures=failures)
    answers = {answer.key: answer for answer in batch_client(graph, clock).run(requests_for(40))}
    assert len(answers) == 40 and all(answer.ok for answer in answers.values())
    assert answers["user3"].attempts == 3 and answers["user7"].attempts == 2 and answers["user1"].attempts == 1
    for url, waits in graph.retry_after_given.items():
        times = graph.attempt_times[url]
        for attempt, retry_after in enumerate(waits):
            assert times[attempt + 1] - times[attempt] >= retry_after
    every_url = [url for _, urls in graph.posts for url in urls]
    assert len(every_url) == 40 + 5  # only the throttled ones went again
    assert all(len(urls) <= 20 for _, urls in graph.posts)


def test_an_error_graph_will_not_change_is_answered_not_retried(clock: FakeClock) -> None:
    graph = BatchGraph(clock)
    requests = [BatchRequest("a", "/users/a/missing"), BatchRequest("b", "/users/b/authentication/methods")]
    answers = {answer.key: answer for answer in batch_client(graph, clock).run(requests)}
    assert answers["a"].status == 404 and answers["a"].attempts == 1
    assert answers["a"].body["error"]["code"] == "Request_ResourceNotFound"
    assert answers["b"].ok


@pytest.mark.parametrize("status", [429, 424])
def test_a_whole_batch_refused_is_sent_again(clock: FakeClock, status: int) -> None:
    graph = BatchGraph(clock, batch_failures=[(status, "3"), (status, None)])
    answers = list(batch_client(graph, clock).run(requests_for(5)))
    assert sorted(answer.key for answer in answers) == sorted(f"user{number}" for number in range(5))
    assert clock.sleeps[0] == 3.0 and len(graph.posts) == 1


def test_an_inner_request_throttled_beyond_the_policy_fails_naming_it(clock: FakeClock) -> None:
    url = "/users/u2/authentication/methods"
    graph = BatchGraph(clock, inner_failures={url: [(429, "1")] * 10})
    with pytest.raises(GraphRetriesExhausted) as raised:
        list(batch_client(graph, clock, retries=2).run(requests_for(3)))
    assert raised.value.attempts == 3 and raised.value.status == 429 and url in raised.value.url


def test_at_most_concurrency_batches_are_in_flight(clock: FakeClock) -> None:
    graph = BatchGraph(clock, delay=0.02)
    answers = list(batch_client(graph, clock, concurrency=3).run(requests_for(200)))
    assert len({answer.key for answer in answers}) == 200 and len(answers) == 200
    assert graph.most_in_flight <= 3
    assert len(graph.posts) == 10
