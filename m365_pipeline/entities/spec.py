"""`EntitySpec`: everything the pipeline knows about one Graph collection, declared once.

An entity module declares the Graph path, paging, throttling cost, permission, optional properties and a pydantic
model of the raw record (camelCase fields as Graph sends them, each with a description and a PII class, made with
`graph_field`). Derived from that one declaration:

- `select` / `params` / `params_without_optional`: the ``$select`` of the request (the model's top-level fields);
- `arrow_schema`: the schema of the raw Parquet extract (Graph's names, values as sent: timestamps stay text);
- `validate`: the record as a model, or `InvalidRecord` with every problem and its field path;
- `columns`: the raw column catalog (name, Arrow type, description, PII class, nullable).
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.types import RawArrowType

_PII_KEY = "pii"
_QUOTED_VALUE_LIMIT = 80  # a reason quotes the bad value, shortened beyond this many characters


class GraphModel(BaseModel):
    """A raw Graph object. Strict: a string "true" is not a bool, 1 is not a bool, "3" is not an integer.

    Properties Graph sent that the model does not declare are ignored; a declared property Graph left out is
    null (Graph omits nulls in some answers), unless the field is required.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    graph_type: ClassVar[str]  # Graph's name of the type, e.g. microsoft.graph.user


def graph_field(description: str, pii: PiiClass, *, required: bool = False) -> Any:
    """A model field with its description and PII class; optional (null when absent) unless ``required``."""
    return Field(... if required else None, description=description, json_schema_extra={_PII_KEY: pii.value})


def field_pii(field: FieldInfo) -> PiiClass | None:
    extra = field.json_schema_extra
    value = extra.get(_PII_KEY) if isinstance(extra, Mapping) else None
    return PiiClass(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class Problem:
    """One reason a record is invalid: where (``location`` as pydantic gives it) and why, quoting the value."""

    location: tuple[str | int, ...]
    reason: str

    @property
    def field(self) -> str:
        """The path of the field, e.g. ``signInActivity.lastSignInDateTime`` or ``assignedLicenses[0].skuId``."""
        return field_path(self.location)


def field_path(location: Sequence[str | int]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


class InvalidRecord(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{problem.field}: {problem.reason}" for problem in self.problems))


def problems_of(error: ValidationError) -> list[Problem]:
    """pydantic's errors as problems, in the model's field order."""
    return [Problem(tuple(detail["loc"]), _reason(detail)) for detail in error.errors(include_url=False)]


def _reason(detail: ErrorDetails) -> str:
    if detail["type"] == "missing" or detail["input"] is None:
        return "missing"
    if detail["type"] == "value_error":  # our own validators' messages, which quote the value
        return str(detail.get("ctx", {}).get("error", detail["msg"]))
    quoted = repr(detail["input"])
    if len(quoted) > _QUOTED_VALUE_LIMIT:
        quoted = quoted[: _QUOTED_VALUE_LIMIT - 1] + "…"
    return f"{detail['msg']}, got {quoted}"


@dataclass(frozen=True)
class RawColumn:
    """A column of the raw extract. ``nullable`` says whether a VALID record may hold null there; the Arrow
    schema itself lets every column be null, so that an invalid record still reaches validation and quarantine."""

    name: str
    arrow_type: pa.DataType
    description: str
    pii: PiiClass
    nullable: bool


@dataclass(frozen=True)
class EntitySpec:
    name: str  # the raw asset's and the raw store's name of the entity
    path: str  # Graph path, e.g. /users
    model: type[GraphModel]  # the raw record; its top-level fields are the $select, in Graph's order
    permission: str  # the application permission that reads it
    paged: bool = True  # False: the endpoint ignores $top (subscribedSkus, organization)
    resource_unit_cost: int = 1  # throttling-limits.md, before the $select discount
    # Properties of the model that Graph serves only to a tenant with a Microsoft Entra ID P1/P2 licence and an app
    # with `optional_permission`; without them it refuses the whole request, so they may be left out.
    optional_select: tuple[str, ...] = ()
    optional_permission: str | None = None
    # True: a tenant without the licence, or an app without the permission, gets an empty extract and a warning
    # instead of a failed directory extract (Graph refuses the whole collection with a 403 then).
    optional: bool = False
    # Navigation properties of the model read by $expand with only their id (manager), not $select
    expand: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not set(self.optional_select) <= set(self.select):
            raise ValueError(f"{self.name}: optional_select {self.optional_select} must be part of select")
        undocumented = _undocumented_fields(self.model)
        if undocumented:
            raise ValueError(f"{self.name}: fields without a description and PII class: {', '.join(undocumented)}")

    @cached_property
    def select(self) -> tuple[str, ...]:
        return tuple(name for name in self.model.model_fields if name not in self.expand)

    @property
    def params(self) -> dict[str, str]:
        return {"$select": ",".join(self.select), **self._expand_params}

    @property
    def params_without_optional(self) -> dict[str, str]:
        """The query without ``optional_select``: for a tenant or app that may not read those properties."""
        select = ",".join(name for name in self.select if name not in self.optional_select)
        return {"$select": select, **self._expand_params}

    @property
    def _expand_params(self) -> dict[str, str]:
        return {"$expand": ",".join(f"{name}($select=id)" for name in self.expand)} if self.expand else {}

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(column.name, column.arrow_type) for column in self.columns])

    @cached_property
    def columns(self) -> tuple[RawColumn, ...]:
        return tuple(
            RawColumn(
                name=name,
                arrow_type=raw_arrow_type(field.annotation, field.metadata),
                description=field.description or "",
                pii=field_pii(field) or PiiClass.NONE,
                nullable=not field.is_required() and admits_none(field.annotation),
            )
            for name, field in self.model.model_fields.items()
        )

    def validate(self, record: Mapping[str, Any]) -> GraphModel:
        """``record`` as the entity's model; `InvalidRecord` names every problem with its field path."""
        try:
            return self.model.model_validate(record)
        except ValidationError as error:
            raise InvalidRecord(problems_of(error)) from None


_SCALARS: dict[type, pa.DataType] = {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64()}


def raw_arrow_type(annotation: Any, metadata: Sequence[Any] = ()) -> pa.DataType:
    """The Arrow type a value of ``annotation`` has in the raw extract."""
    for item in metadata:
        if isinstance(item, RawArrowType):
            return item.arrow_type
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return raw_arrow_type(base, extra)
    if origin in (Union, types.UnionType):
        (present,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return raw_arrow_type(present)
    if origin is list:
        (item_type,) = get_args(annotation)
        return pa.list_(raw_arrow_type(item_type))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(
            [
                (name, raw_arrow_type(field.annotation, field.metadata))
                for name, field in annotation.model_fields.items()
            ]
        )
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise TypeError(f"no raw Arrow type for {annotation!r}")


def admits_none(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return admits_none(get_args(annotation)[0])
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _undocumented_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    undocumented: list[str] = []
    for name, field in model.model_fields.items():
        if not field.description or field_pii(field) is None:
            undocumented.append(prefix + name)
        for nested in _nested_models(field.annotation):
            undocumented.extend(_undocumented_fields(nested, f"{prefix}{name}."))
    return undocumented


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _nested_models(arg)]
