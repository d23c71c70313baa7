"""JSON batching (``POST /$batch``): many small GETs (one per user) sent 20 to a request.

Graph's rules it follows (reference/graph_api.md, concepts/json-batching.md): at most 20 requests per batch,
ids unique within a batch (the client numbers them itself and maps the answers back, so a caller's keys may be
anything), answers matched by id in whatever order they come. Every inner request is throttled on its own: an
inner 429 (or 503, 504, or 424 for a failed dependency) is sent again in a later batch once ITS OWN Retry-After
has passed (exponential backoff with jitter when it has none), while the others' answers are kept. A whole
batch answered 429, 503, 504 or 424 is retried as one request by the Graph client. Each inner request's resource
units are spent before its batch is posted, and at most ``concurrency`` batches are in flight at once.

Requests are read from the caller's iterable only as batches need them, so a million per-user calls never sit
in memory together.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError, GraphRetriesExhausted
from m365_pipeline.graph.retry import parse_retry_after

logger = logging.getLogger("m365_pipeline.graph")

MAX_BATCH_REQUESTS = 20  # Graph refuses a batch of more
INNER_RETRIED_STATUSES = frozenset({429, 503, 504, 424})
BATCH_RETRIED_STATUSES = frozenset({424})  # with the client's own 429/503/504


@dataclass(frozen=True)
class BatchRequest:
    """One GET to send in a batch. ``key`` is the caller's (returned with the answer); ``url`` is relative to
    the version root (``/users/{id}/authentication/methods``); ``cost`` its resource units."""

    key: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    cost: int = 1


@dataclass(frozen=True)
class BatchResponse:
    key: str
    status: int
    headers: Mapping[str, str]
    body: Any
    attempts: int  # how many batches carried the request

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Pending:
    request: BatchRequest
    attempts: int = 0
    last_status: int = 0  # of the last attempt that must be retried; 0: no answer for it
    last_headers: dict[str, str] = field(default_factory=dict)
    last_body: Any = None


class BatchClient:
    """Sends ``BatchRequest``s through a ``GraphClient`` in batches (see the module docstring)."""

    def __init__(self, client: GraphClient, *, concurrency: int = 4, batch_size: int = MAX_BATCH_REQUESTS) -> None:
        if not 1 <= batch_size <= MAX_BATCH_REQUESTS:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_REQUESTS}, got {batch_size}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._client = client
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._order = itertools.count()  # ties in the retry queue go first come, first served

    def run(self, requests: Iterable[BatchRequest]) -> Iterator[BatchResponse]:
        """The final answer of every request, in the order they are settled: a success, or an error Graph will
        not change by retrying (403, 404...). Raises ``GraphRetriesExhausted`` when one inner request is still
        throttled after the retry policy's retries."""
        clock = self._client.clock
        fresh = iter(requests)
        ready: deque[_Pending] = deque()
        retries: list[tuple[float, int, _Pending]] = []  # heap of (when it may go again, order, request)
        in_flight: dict[Future[list[BatchResponse | _Pending]], list[_Pending]] = {}
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="graph-batch") as pool:
            while True:
                now = clock.now()
                while retries and retries[0][0] <= now:
                    ready.append(heapq.heappop(retries)[2])
                while len(in_flight) < self._concurrency:
                    batch = self._next_batch(ready, fresh)
                    if not batch:
                        break
                    in_flight[pool.submit(self._send, batch)] = batch
                if not in_flight:
                    if not retries:
                        return
                    clock.sleep(max(0.0, retries[0][0] - now))
                    continue
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    del in_flight[future]
                    for outcome in future.result():
                        if isinstance(outcome, BatchResponse):
                            yield outcome
                        else:
                            retry_at = clock.now() + self._retry_wait(outcome)
                            heapq.heappush(retries, (retry_at, next(self._order), outcome))

    def _next_batch(self, ready: deque[_Pending], fresh: Iterator[BatchRequest]) -> list[_Pending]:
        batch: list[_Pending] = []
        while ready and len(batch) < self._batch_size:
            batch.append(ready.popleft())
        batch.extend(_Pending(request) for request in itertools.islice(fresh, self._batch_size - len(batch)))
        return batch

    def _send(self, batch: list[_Pending]) -> list[BatchResponse | _Pending]:
        """Post one batch; each request's final answer, or the request itself when it must go again."""
        for pending in batch:
            self._client.spend(pending.request.cost, pending.request.url)
            pending.attempts += 1
        body = {
            "requests": [
                {
                    "id": str(number),
                    "method": "GET",
                    "url": pending.request.url,
                    "headers": dict(pending.request.headers),
                }
                for number, pending in enumerate(batch, start=1)
            ]
        }
        answer = self._client.post_json("/$batch", body, retried_statuses=BATCH_RETRIED_STATUSES)
        responses = answer.get("responses") if isinstance(answer, dict) else None
        if not isinstance(responses, list):
            raise GraphError(200, "UnexpectedResponse", "the $batch answer has no 'responses' list", method="POST")
        by_id: dict[str, dict[str, Any]] = {}
        for response in responses:
            answered = str(response.get("id")) if isinstance(response, dict) else ""
            if not answered.isdigit() or not 1 <= int(answered) <= len(batch):
                raise GraphError(
                    200, "UnexpectedResponse", f"a $batch answer has an unknown id {answered!r}", method="POST"
                )
            by_id.setdefault(answered, response)  # the same id twice: the first answer counts
        outcomes: list[BatchResponse | _Pending] = []
        for number, pending in enumerate(batch, start=1):
            response = by_id.get(str(number))
            if response is None:  # Graph left it out: it goes again, as a transient failure would
                pending.last_status, pending.last_headers, pending.last_body = 0, {}, None
                outcomes.append(pending)
                continue
            status = int(response.get("status") or 0)
            headers = {str(name).lower(): str(value) for name, value in (response.get("headers") or {}).items()}
            if status in INNER_RETRIED_STATUSES:
                pending.last_status, pending.last_headers, pending.last_body = status, headers, response.get("body")
                outcomes.append(pending)
                continue
            outcomes.append(BatchResponse(pending.request.key, status, headers, response.get("body"), pending.attempts))
        return outcomes

    def _retry_wait(self, pending: _Pending) -> float:
        """The inner request's own Retry-After, or backoff; raises once the policy allows no more retries."""
        policy = self._client.retry_policy
        status = pending.last_status
        retry_after = parse_retry_after(pending.last_headers.get("retry-after"), self._client.clock.utcnow())
        body = pending.last_body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or ("NoAnswer" if status == 0 else f"HTTP{status}"))
        message = str(error.get("message") or "")
        if pending.attempts > policy.max_retries or (retry_after is not None and retry_after > policy.max_retry_after):
            raise GraphRetriesExhausted(
                status, code, f"{message} (inside $batch)".strip(), attempts=pending.attempts, url=pending.request.url
            )
        wait_seconds = retry_after if retry_after is not None else policy.backoff(pending.attempts, self._client.rng)
        logger.info(
            "$batch: %s %s on %s, sending it again in %.3f s",
            status or "no answer",
            code,
            pending.request.url,
            wait_seconds,
        )
        return wait_seconds
