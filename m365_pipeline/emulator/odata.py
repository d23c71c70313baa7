"""Graph's OData query options as the emulator understands them: ``$select``, ``$top``, ``$count``, a small
``$filter`` and opaque ``$skiptoken`` page tokens. Anything outside that is refused the way Graph refuses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote_plus

FILTERABLE_TYPES = ("Edm.String", "Edm.Boolean")
ADVANCED_OPERATORS = frozenset({"ne", "endswith"})  # need ConsistencyLevel: eventual and $count=true
ADVANCED_QUERIES_HINT = (
    "Try adding $count=true query parameter and ConsistencyLevel:eventual header. "
    "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
)


class GraphError(Exception):
    """A refusal that Graph answers with its error envelope ``{"error": {"code", "message", ...}}``."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


def unsupported_query(message: str = "Unsupported Query.") -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


@dataclass(frozen=True)
class EntityType:
    """A Graph type: its properties (name -> OData type, in Graph's order) and what a plain GET returns."""

    name: str  # e.g. "microsoft.graph.user"
    properties: Mapping[str, str]
    default_select: tuple[str, ...]

    @cached_property
    def _canonical(self) -> dict[str, str]:
        return {name.lower(): name for name in self.properties}

    def property_named(self, name: str) -> str:
        """The property's canonical spelling (Graph matches names case-insensitively)."""
        canonical = self._canonical.get(name.strip().lower())
        if canonical is None:
            raise bad_request(f"Could not find a property named '{name.strip()}' on type '{self.name}'.")
        return canonical

    def select(self, raw: str | None) -> tuple[str, ...]:
        """The properties to return: ``$select``'s, in its order without repeats, or the default set."""
        if raw is None or not raw.strip():
            return self.default_select
        chosen: list[str] = []
        for part in raw.split(","):
            if part.strip():
                name = self.property_named(part)
                if name not in chosen:
                    chosen.append(name)
        return tuple(chosen)


@dataclass(frozen=True)
class QueryOptions:
    """The query string of one request: option names lower-cased, values decoded, the raw text kept so that
    a nextLink can carry the options exactly as the client sent them."""

    values: Mapping[str, str]
    raw_parts: tuple[tuple[str, str], ...]  # (lower-cased name, "name=value" as sent), in order

    @classmethod
    def parse(cls, query: str) -> QueryOptions:
        values: dict[str, str] = {}
        raw_parts: list[tuple[str, str]] = []
        for part in query.split("&"):
            if not part:
                continue
            raw_name, _, raw_value = part.partition("=")
            name = unquote_plus(raw_name).strip().lower()
            if name in values:
                raise bad_request(
                    f"Query option '{name}' was specified more than once, but it must be specified at most once."
                )
            values[name] = unquote_plus(raw_value)
            raw_parts.append((name, part))
        return cls(values, tuple(raw_parts))

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def allow_only(self, allowed: Collection[str]) -> None:
        """Refuse any ``$`` option outside ``allowed`` (options without ``$`` are ignored, as Graph does)."""
        for name in self.values:
            if name.startswith("$") and name not in allowed:
                raise bad_request(f"Query option '{name}' is not supported on this resource.")

    def link_query(self, without: str) -> str:
        """The options as sent, minus ``without``, joined for a nextLink."""
        return "&".join(text for name, text in self.raw_parts if name != without)


def page_size(raw: str | None, default: int = 100, maximum: int = 999) -> int:
    if raw is None:
        return default
    try:
        size = int(raw.strip())
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise bad_request(f"Invalid page size specified: '{raw}'. Must be between 1 and {maximum} inclusive.")
    return size


def count_requested(raw: str | None) -> bool:
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise bad_request(f"Invalid value '{raw}' for query option '$count': expected true or false.")
    return value == "true"


@dataclass(frozen=True)
class Condition:
    property: str
    operator: str  # eq, ne, startswith, endswith
    value: str | bool

    def predicate(self) -> Callable[[Mapping[str, Any]], bool]:
        name, operator, value = self.property, self.operator, self.value
        if isinstance(value, bool):
            if operator == "eq":
                return lambda item: item.get(name) is value
            return lambda item: item.get(name) is not value
        folded = value.casefold()  # directory string comparisons ignore case
        if operator == "eq":
            return lambda item: isinstance(text := item.get(name), str) and text.casefold() == folded
        if operator == "ne":
            return lambda item: not (isinstance(text := item.get(name), str) and text.casefold() == folded)
        if operator == "startswith":
            return lambda item: isinstance(text := item.get(name), str) and text.casefold().startswith(folded)
        return lambda item: isinstance(text := item.get(name), str) and text.casefold().endswith(folded)


@dataclass(frozen=True)
class Filter:
    """Conditions joined by ``and``."""

    conditions: tuple[Condition, ...]

    @property
    def advanced_operators(self) -> list[str]:
        return sorted({condition.operator for condition in self.conditions} & ADVANCED_OPERATORS)

    @property
    def key(self) -> str:
        """A canonical text of the filter: equal filters (however spelled) share a key."""
        return " and ".join(f"{c.operator}({c.property},{c.value!r})" for c in self.conditions)

    def matcher(self) -> Callable[[Mapping[str, Any]], bool]:
        predicates = [condition.predicate() for condition in self.conditions]
        return lambda item: all(predicate(item) for predicate in predicates)


_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),]))")
_EDM_LITERAL = {str: "Edm.String", bool: "Edm.Boolean"}


def parse_filter(text: str, entity: EntityType) -> Filter:
    """``prop eq 'text'``, ``prop ne 'text'``, ``prop eq true|false``, ``startswith(prop,'text')`` and
    ``endswith(prop,'text')``, joined by ``and``. Anything else is a ``Request_UnsupportedQuery``."""
    tokens = _tokenize(text)
    conditions: list[Condition] = []
    position = 0
    while True:
        condition, position = _condition(tokens, position, entity)
        conditions.append(condition)
        if position == len(tokens):
            return Filter(tuple(conditions))
        if tokens[position] != ("word", "and"):
            raise unsupported_query()
        position += 1


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise unsupported_query(f"Invalid filter clause: syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    if not tokens:
        raise bad_request("The $filter query option is empty.")
    return tokens


def _condition(tokens: list[tuple[str, str]], position: int, entity: EntityType) -> tuple[Condition, int]:
    def take(kind: str, text: str | None = None) -> str:
        nonlocal position
        if position >= len(tokens) or tokens[position][0] != kind or text not in (None, tokens[position][1]):
            raise unsupported_query()
        position += 1
        return tokens[position - 1][1]

    first = take("word")
    if first in ("startswith", "endswith"):
        take("punct", "(")
        name = _filterable(entity, take("word"))
        take("punct", ",")
        literal = _literal(take("string"))
        take("punct", ")")
        _check_type(entity, name, literal, first)
        return Condition(name, first, literal), position
    name = _filterable(entity, first)
    operator = take("word")
    if operator not in ("eq", "ne"):
        raise unsupported_query()
    kind, text = tokens[position] if position < len(tokens) else ("", "")
    position += 1
    if kind == "string":
        value: str | bool = _literal(text)
    elif kind == "word" and text in ("true", "false"):
        value = text == "true"
    else:
        raise unsupported_query()
    _check_type(entity, name, value, operator)
    return Condition(name, operator, value), position


def _filterable(entity: EntityType, name: str) -> str:
    canonical = entity.property_named(name)
    if entity.properties[canonical] not in FILTERABLE_TYPES:
        raise unsupported_query(f"Unsupported or invalid query filter clause specified for property '{canonical}'.")
    return canonical


def _literal(quoted: str) -> str:
    return quoted[1:-1].replace("''", "'")


def _check_type(entity: EntityType, name: str, value: str | bool, operator: str) -> None:
    declared, given = entity.properties[name], _EDM_LITERAL[type(value)]
    if declared != given:
        raise bad_request(
            "A binary operator with incompatible types was detected. "
            f"Found operand types '{declared}' and '{given}' for operator kind '{operator}'."
        )


class PageTokens:
    """Opaque ``$skiptoken`` values: an offset signed with an HMAC over the query it pages, so a token that
    was changed, or that belongs to another query, is refused instead of silently paging wrong."""

    _VERSION = b"\x01"
    _MAC_BYTES = 12

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, scope: str, offset: int) -> str:
        payload = offset.to_bytes(8, "big")
        raw = self._VERSION + payload + self._mac(scope, payload)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def offset(self, scope: str, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        payload, mac = raw[1:9], raw[9:]
        if (
            len(raw) != 9 + self._MAC_BYTES
            or raw[:1] != self._VERSION
            or not hmac.compare_digest(mac, self._mac(scope, payload))
        ):
            raise bad_request("The $skiptoken value is not valid: it was changed or was issued for another query.")
        return int.from_bytes(payload, "big")

    def _mac(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._key, scope.encode() + payload, hashlib.sha256).digest()[: self._MAC_BYTES]
