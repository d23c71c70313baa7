"""Relations read per parent object through ``$batch``: group members (direct and transitive) and owners. The
groups' ids are read from the extract's own groups file a batch at a time, so memory holds one group's members,
whatever the tenant's size; a relation of more than one page follows its ``@odata.nextLink`` as given."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from m365_pipeline.entities.relations import RELATION_COSTS
from m365_pipeline.graph.batch import MAX_BATCH_REQUESTS, BatchClient, BatchRequest, BatchResponse
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.graph.rate_limit import resource_unit_cost

logger = logging.getLogger("m365_pipeline.directory")

Record = dict[str, Any]
ID_BATCH_ROWS = 1_000
GROUP_TYPE = "#microsoft.graph.group"


def ids_in(path: Path) -> Iterator[str]:
    """The ``id`` column of an extract file, a batch at a time."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=ID_BATCH_ROWS, columns=["id"]):
        yield from (value for value in batch.column(0).to_pylist() if value)


def group_relation_pages(client: GraphClient, groups_file: Path, *, concurrency: int = 4) -> Iterator[list[Record]]:
    """Rows (groupId, relation, id, odataType) of every group's members, transitive members and owners.

    A group with no group among its direct members has those as its transitive members: they are written again
    under that relation instead of asked for (``transitiveMembers`` costs the most resource units); only the
    groups that contain groups are asked, after the others."""
    batches = BatchClient(client, concurrency=concurrency)
    nesting: list[str] = []  # groups with a group among their members: their ids only
    for answer in _in_order(batches, _requests(ids_in(groups_file), ("members", "owners")), concurrency):
        group_id, relation = answer.key.split("|")
        if answer.status == 404:  # deleted since the groups were listed
            continue
        # one group's members are held until its last page says whether they are all its transitive members
        direct: list[Record] = []
        for items in answer_pages(client, answer):
            rows = _rows(group_id, relation, items)
            direct += rows if relation == "members" else []
            yield rows
        if any(row["odataType"] == GROUP_TYPE for row in direct):
            nesting.append(group_id)
        elif direct:
            yield [row | {"relation": "transitiveMembers"} for row in direct]
    for answer in _in_order(batches, _requests(iter(nesting), ("transitiveMembers",)), concurrency):
        if answer.status != 404:
            group_id, relation = answer.key.split("|")
            yield from (_rows(group_id, relation, items) for items in answer_pages(client, answer))


def _requests(group_ids: Iterator[str], relations: tuple[str, ...]) -> Iterator[BatchRequest]:
    query = {"$select": "id", "$top": "999"}
    return (
        BatchRequest(
            f"{group_id}|{relation}",
            f"/groups/{group_id}/{relation}?$select=id&$top=999",
            cost=resource_unit_cost(RELATION_COSTS[relation], query),
        )
        for group_id in group_ids
        for relation in relations
    )


def _rows(group_id: str, relation: str, items: list[Record]) -> list[Record]:
    return [
        {"groupId": group_id, "relation": relation, "id": item.get("id"), "odataType": item.get("@odata.type")}
        for item in items
    ]


def _in_order(batches: BatchClient, requests: Iterator[BatchRequest], concurrency: int) -> Iterator[BatchResponse]:
    """The answers in the order of the requests (batches answer in any order): the same directory gives the same
    file, byte for byte, so an unchanged extract is recognized. A window of ``concurrency`` batches is held."""
    window = MAX_BATCH_REQUESTS * concurrency
    while chunk := list(itertools.islice(requests, window)):
        answers = {answer.key: answer for answer in batches.run(chunk)}
        yield from (answers[request.key] for request in chunk)


def answer_pages(client: GraphClient, answer: BatchResponse) -> Iterator[list[Record]]:
    """The ``value`` of a batch answer, then of each page its ``@odata.nextLink`` leads to; an error answer raises
    it as a ``GraphError``."""
    if not answer.ok:
        error = answer.body.get("error", {}) if isinstance(answer.body, dict) else {}
        raise GraphError(
            answer.status, str(error.get("code") or f"HTTP{answer.status}"), str(error.get("message") or "")
        )
    body = answer.body
    while True:
        items = body.get("value") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise GraphError(200, "UnexpectedResponse", "a relation answer has no 'value' list")
        yield items
        next_link = body.get("@odata.nextLink")
        if not isinstance(next_link, str):
            return
        body = client.get_json(next_link)
