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
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import unquote_plus

FILTERABLE_TYPES = ("Edm.String", "Edm.Boolean", "Edm.DateTimeOffset", "Edm.Guid", "Edm.Int32", "Edm.Int64")
ADVANCED_OPERATORS = frozenset({"ne", "endswith", "$count"})  # need ConsistencyLevel: eventual and $count=true
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


Literal = str | bool | int | float | None


def _timestamp_key(text: str) -> float | None:
    """A DateTimeOffset as seconds, whatever its fraction (Graph writes 0 to 7 digits)."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    fraction = (match.group("fraction") or "0")[:6]
    moment = datetime.fromisoformat(f"{match.group('seconds')}.{fraction:0<6}+00:00")
    return moment.timestamp()


def _comparable(value: Any, literal: Literal) -> tuple[Any, Any] | None:
    """Both sides in one comparable form, or None when they do not compare (null, another type)."""
    if value is None or literal is None:
        return None
    if isinstance(literal, str) and isinstance(value, str):
        moments = _timestamp_key(value), _timestamp_key(literal)
        if moments[0] is not None and moments[1] is not None:
            return moments
        return value.casefold(), literal.casefold()  # directory string comparisons ignore case
    if isinstance(literal, bool) or isinstance(value, bool):
        return (value, literal) if isinstance(value, bool) and isinstance(literal, bool) else None
    if isinstance(value, int | float) and isinstance(literal, int | float):
        return value, literal
    return None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a >= b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
}


def _resolve(item: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    return value


@dataclass(frozen=True)
class Condition:
    """``path op literal``, ``startswith/endswith(path,'text')``, ``path/any(x:x[/sub] op literal)`` or
    ``path/$count op number``."""

    path: tuple[str, ...]
    operator: str  # eq ne ge le gt lt startswith endswith
    value: Literal
    any_of: tuple[str, ...] | None = None  # for any(): the path inside each collection item (empty: the item)
    count: bool = False  # path/$count

    @property
    def property(self) -> str:
        return self.path[0]

    def predicate(self) -> Callable[[Mapping[str, Any]], bool]:
        path, operator, literal = self.path, self.operator, self.value
        if self.count:
            return lambda item: _COMPARE[operator](len(_resolve(item, path) or ()), literal)
        if self.any_of is not None:
            inner = self.any_of

            def any_matches(item: Mapping[str, Any]) -> bool:
                for element in _resolve(item, path) or ():
                    value = _resolve(element, inner) if inner else element
                    pair = _comparable(value, literal)
                    if pair is not None and _COMPARE[operator](*pair):
                        return True
                return False

            return any_matches
        if operator in ("startswith", "endswith"):
            folded = str(literal).casefold()
            method = str.startswith if operator == "startswith" else str.endswith
            return lambda item: isinstance(text := _resolve(item, path), str) and method(text.casefold(), folded)

        def compares(item: Mapping[str, Any]) -> bool:
            value = _resolve(item, path)
            if literal is None or value is None:
                both_null = (value is None) == (literal is None)
                return {"eq": both_null, "ne": not both_null}.get(operator, False)
            pair = _comparable(value, literal)
            if pair is None:
                return operator == "ne"
            return _COMPARE[operator](*pair)

        return compares


@dataclass(frozen=True)
class Filter:
    """Conditions joined by ``and``."""

    conditions: tuple[Condition, ...]

    @property
    def advanced_operators(self) -> list[str]:
        used = {condition.operator for condition in self.conditions}
        if any(condition.count for condition in self.conditions):
            used.add("$count")
        return sorted(used & ADVANCED_OPERATORS)

    @property
    def key(self) -> str:
        """A canonical text of the filter: equal filters (however spelled) share a key."""
        return " and ".join(
            f"{c.operator}({'/'.join(c.path)},{c.value!r},{c.any_of},{c.count})" for c in self.conditions
        )

    def names(self) -> set[str]:
        return {condition.property for condition in self.conditions}

    def matcher(self) -> Callable[[Mapping[str, Any]], bool]:
        predicates = [condition.predicate() for condition in self.conditions]
        return lambda item: all(predicate(item) for predicate in predicates)


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')"
    r"|(?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))"
    r"|(?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<word>\$?[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>[(),/:]))"
)
_DATETIME = re.compile(r"(?P<seconds>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(?:\.(?P<fraction>\d+))?(?:Z|\+00:00)")
_LITERAL_TYPES = {
    "string": "Edm.String",
    "datetime": "Edm.DateTimeOffset",
    "guid": "Edm.Guid",
    "number": "Edm.Int32",
    "bool": "Edm.Boolean",
}
COMPARISONS = ("eq", "ne", "ge", "le", "gt", "lt")


def parse_filter(text: str, entity: EntityType) -> Filter:
    """Comparisons (``eq ne ge le gt lt``) of a property or a sub-property (``signInActivity/lastSignInDateTime``)
    with a string, GUID, DateTimeOffset, number, ``true``/``false`` or ``null``; ``startswith`` and ``endswith``;
    ``collection/any(x:x/prop eq value)``; ``collection/$count eq N``; joined by ``and``. Anything else is a
    ``Request_UnsupportedQuery``."""
    tokens = _tokenize(text)
    conditions: list[Condition] = []
    position = 0
    while True:
        condition, position = _Parser(tokens, position, entity).condition()
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


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], position: int, entity: EntityType) -> None:
        self.tokens = tokens
        self.position = position
        self.entity = entity

    def take(self, kind: str, text: str | None = None) -> str:
        tokens, position = self.tokens, self.position
        if position >= len(tokens) or tokens[position][0] != kind or text not in (None, tokens[position][1]):
            raise unsupported_query()
        self.position += 1
        return tokens[position][1]

    def peek(self, kind: str, text: str | None = None) -> bool:
        if self.position >= len(self.tokens):
            return False
        token_kind, token_text = self.tokens[self.position]
        return token_kind == kind and text in (None, token_text)

    def condition(self) -> tuple[Condition, int]:
        first = self.take("word")
        if first in ("startswith", "endswith"):
            self.take("punct", "(")
            name = _filterable(self.entity, self.take("word"))
            self.take("punct", ",")
            kind, literal = self.literal()
            self.take("punct", ")")
            _check_type(self.entity.properties[name], kind, first)
            return Condition((name,), first, literal), self.position
        name = self.entity.property_named(first)
        declared = self.entity.properties[name]
        if self.peek("punct", "/"):
            self.take("punct", "/")
            if self.peek("word", "$count"):
                self.take("word")
                if not declared.startswith("Collection("):
                    raise unsupported_query()
                operator = self.operator()
                kind, number = self.literal()
                if kind != "number":
                    raise bad_request("$count is compared with a number.")
                return Condition((name,), operator, number, count=True), self.position
            if self.peek("word", "any"):
                return self.any_condition(name, declared)
            sub = self.take("word")
            if declared.startswith(("Edm.", "Collection(")):
                raise bad_request(f"Property '{sub}' does not exist on '{declared}'.")
            operator = self.operator()
            kind, literal = self.literal()
            return Condition((name, sub), operator, literal), self.position
        _filterable(self.entity, name)
        operator = self.operator()
        kind, literal = self.literal()
        _check_type(declared, kind, operator)
        return Condition((name,), operator, literal), self.position

    def any_condition(self, name: str, declared: str) -> tuple[Condition, int]:
        if not declared.startswith("Collection("):
            raise unsupported_query()
        self.take("word", "any")
        self.take("punct", "(")
        variable = self.take("word")
        self.take("punct", ":")
        if self.take("word") != variable:
            raise unsupported_query()
        inner: tuple[str, ...] = ()
        if self.peek("punct", "/"):
            self.take("punct", "/")
            inner = (self.take("word"),)
        operator = self.operator()
        kind, literal = self.literal()
        self.take("punct", ")")
        if operator != "eq":
            raise unsupported_query()
        element = declared.removeprefix("Collection(").removesuffix(")")
        if element.startswith("Edm.") != (not inner):
            raise unsupported_query()
        if element == "Edm.String":
            _check_type(element, kind, operator)
        return Condition((name,), operator, literal, any_of=inner), self.position

    def operator(self) -> str:
        operator = self.take("word")
        if operator not in COMPARISONS:
            raise unsupported_query()
        return operator

    def literal(self) -> tuple[str, Literal]:
        if self.position >= len(self.tokens):
            raise unsupported_query()
        kind, text = self.tokens[self.position]
        self.position += 1
        if kind == "string":
            return kind, text[1:-1].replace("''", "'")
        if kind in ("datetime", "guid"):
            return kind, text
        if kind == "number":
            return kind, float(text) if "." in text else int(text)
        if kind == "word" and text in ("true", "false"):
            return "bool", text == "true"
        if kind == "word" and text == "null":
            return "null", None
        raise unsupported_query()


def _filterable(entity: EntityType, name: str) -> str:
    canonical = entity.property_named(name)
    if entity.properties[canonical] not in FILTERABLE_TYPES:
        raise unsupported_query(f"Unsupported or invalid query filter clause specified for property '{canonical}'.")
    return canonical


def _check_type(declared: str, literal_kind: str, operator: str) -> None:
    if literal_kind == "null":
        return
    given = _LITERAL_TYPES[literal_kind]
    compatible = declared == given or (declared == "Edm.String" and given == "Edm.Guid")
    compatible = compatible or (declared == "Edm.Int64" and given == "Edm.Int32")
    if not compatible:
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
