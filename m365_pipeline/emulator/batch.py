"""JSON batching (``POST /v1.0/$batch``, concepts/json-batching.md): at most 20 requests with unique ids and
relative URLs (an absolute one is read as a relative path, so its answer is a 400 "Resource not found for the
segment 'https:'", as Graph answers msgraph-sdk-python's absolute batch URLs: its issue 1015), each with its own
headers (a body needs a Content-Type), ``dependsOn`` honoured (a request whose
dependency failed is answered 424 Failed Dependency without running), each inner request answered on its own
(throttled, faulted or refused like a request of its own), and the responses returned in an order shuffled from a
seeded generator: clients must match them by id.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any, Protocol

from m365_pipeline.emulator.odata import GraphError, bad_request

MAX_REQUESTS = 20
_ORDER_LOCK = threading.Lock()


class InnerResponse(Protocol):
    status: int
    headers: dict[str, str]
    body: bytes


def answer_batch(
    body: bytes,
    content_type: str,
    inner: Callable[[str, str, dict[str, str], bytes], InnerResponse],
    order: random.Random,
) -> bytes:
    """The batch's answer body; ``inner(method, url relative to /v1.0, headers, body)`` answers one request."""
    if "json" not in content_type.lower():
        raise bad_request("Content-Type of a JSON batch must be application/json.")
    requests = _requests(body)
    status_of: dict[str, int] = {}
    responses = []
    for request in requests:
        request_id = request["id"]
        failed = [dependency for dependency in request["dependsOn"] if status_of[dependency] >= 400]
        if failed:
            status_of[request_id] = 424
            responses.append(
                {
                    "id": request_id,
                    "status": 424,
                    "headers": {"Content-Type": "application/json"},
                    "body": {"error": {"code": "FailedDependency", "message": "Failed dependency."}},
                }
            )
            continue
        answer = inner(request["method"], request["url"], request["headers"], request["body"])
        status_of[request_id] = answer.status
        responses.append(_response(request_id, answer))
    with _ORDER_LOCK:
        order.shuffle(responses)
    return json.dumps({"responses": responses}, separators=(",", ":"), ensure_ascii=False).encode()


def _requests(body: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(body or b"null")
    except ValueError:
        raise bad_request("The batch request body is not valid JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get("requests"), list):
        raise bad_request("A batch request body holds a 'requests' array.")
    raw = document["requests"]
    if not raw:
        raise bad_request("A batch request must hold at least one request.")
    if len(raw) > MAX_REQUESTS:
        raise bad_request(f"The number of batch requests ({len(raw)}) exceeds the limit of {MAX_REQUESTS}.")
    seen: set[str] = set()
    requests = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("Each batch request is a JSON object.")
        request_id, method, url = item.get("id"), item.get("method"), item.get("url")
        if not isinstance(request_id, str) or not request_id:
            raise bad_request("Each batch request needs a string 'id'.")
        if request_id in seen:
            raise GraphError(400, "BadRequest", f"Batch request id '{request_id}' is used more than once.")
        if not isinstance(method, str) or not isinstance(url, str) or not url:
            raise bad_request(f"Batch request '{request_id}' needs a 'method' and a 'url'.")
        headers = item.get("headers") or {}
        if not isinstance(headers, dict):
            raise bad_request(f"The headers of batch request '{request_id}' are not an object.")
        depends_on = item.get("dependsOn") or []
        if not isinstance(depends_on, list) or any(dependency not in seen for dependency in depends_on):
            raise bad_request(f"Batch request '{request_id}' depends on a request not before it in the batch.")
        payload = b""
        if item.get("body") is not None:
            if not any(name.lower() == "content-type" for name in headers):
                raise bad_request(f"Batch request '{request_id}' has a body but no Content-Type header.")
            payload = json.dumps(item["body"]).encode()
        seen.add(request_id)
        requests.append(
            {
                "id": request_id,
                "method": method.upper(),
                "url": url if url.startswith("/") else f"/{url}",
                "headers": {str(name): str(value) for name, value in headers.items()},
                "body": payload,
                "dependsOn": depends_on,
            }
        )
    return requests


def _response(request_id: str, answer: InnerResponse) -> dict[str, Any]:
    headers = {
        name: value
        for name, value in answer.headers.items()
        if name.lower() in ("content-type", "retry-after", "location", "x-ms-resource-unit", "preference-applied")
        or name.lower().startswith("x-ms-throttle")
    }
    content_type = headers.get("Content-Type", "")
    body: Any
    body = json.loads(answer.body) if "json" in content_type else answer.body.decode("utf-8", "replace")
    return {"id": request_id, "status": answer.status, "headers": headers, "body": body}
