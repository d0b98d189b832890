"""Checking search-space options against their declared schema, with one-line errors.

Options come from a file (``--space-config FILE.toml``), from ``--space-option KEY=JSON``, from a
stored search (resumed) or from keywords of `search_spaces.get`; all meet the same schema here.
Each space declares it: `SearchSpace.options_schema()` (see `skipdag`, whose schema bounds every
width, depth and count by `nas.ir.limits`); a space that declares none (a plugin) gets one
derived from the types of its `Options` dataclass (`derived_schema`). What relates options to
each other stays in the space's `check_options` hook.

Library: pydantic's validation core, `pydantic_core`, as for architectures; see `nas.ir.schema`
for why, and for the message form. It is imported on the first check, not with the package.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Union

from nas.ir.limits import MAX_CHOICES
from nas.ir.schema import problem, shown
from search_spaces.base import SpaceConfigError

if TYPE_CHECKING:
    from pydantic_core import CoreSchema, SchemaValidator

    from search_spaces.base import SearchSpace

__all__ = ["derived_schema", "validate_options"]


def validate_options(space: type[SearchSpace], given: Mapping[str, Any]) -> dict[str, Any]:
    """The options in `given`, checked against `space`'s schema; lists come back as tuples.

    Raises:
        SpaceConfigError: an unknown option or a bad value, in one line naming both.
    """
    from pydantic_core import ValidationError

    try:
        values = _validator(space).validate_python(dict(given))
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        loc = err["loc"]
        if err["type"] in ("extra_forbidden", "invalid_key") and len(loc) == 1:
            valid = ", ".join(f.name for f in dataclasses.fields(space.Options))
            raise SpaceConfigError(
                f"unknown option {shown(loc[0])} for search space {space.name!r}; valid options: {valid}"
            ) from None
        rules = _rules(space)
        raise SpaceConfigError(f"search space {space.name!r}: option {problem(err, loc, rules)}") from None
    return {k: _frozen(v) for k, v in values.items()}


@functools.cache
def _validator(space: type[SearchSpace]) -> SchemaValidator:
    from pydantic_core import SchemaValidator

    return SchemaValidator(space.options_schema())


def _rules(space: type[SearchSpace]) -> dict[str, str]:
    """The rule of each option: the space's own words, else 'must look like' its default."""
    defaults = space.Options()
    rules = {
        f.name: f"{f.name} must look like {_jsonable(getattr(defaults, f.name))!r}"
        for f in dataclasses.fields(space.Options)
    }
    return rules | dict(space.OPTION_RULES)


def _frozen(v: Any) -> Any:
    return tuple(_frozen(x) for x in v) if isinstance(v, (list, tuple)) else v


def _jsonable(v: Any) -> Any:
    return [_jsonable(x) for x in v] if isinstance(v, (list, tuple)) else v


# ---- a schema from a dataclass's field types (for spaces that declare none) -------------------
def derived_schema(options: type) -> CoreSchema:
    """A schema for the fields of the dataclass `options`, from their annotations: bool, int,
    float and str exactly (no coercion; an int is taken for a float), ``tuple[X, ...]`` a list of
    up to `MAX_CHOICES` X, ``tuple[X, Y]`` a pair, ``Literal[...]`` one of its values,
    ``X | None``; anything else is taken as it is. Every option is optional, no other is known."""
    from pydantic_core import core_schema as cs

    fields = {
        f.name: cs.typed_dict_field(_schema_of(_resolve(options, f)), required=False)
        for f in dataclasses.fields(options)
    }
    return cs.typed_dict_schema(fields, extra_behavior="forbid")


def _resolve(options: type, field: dataclasses.Field[Any]) -> Any:
    """A field's type; a string annotation is evaluated in its module (Any if it cannot be)."""
    if not isinstance(field.type, str):
        return field.type
    module = sys.modules.get(options.__module__)
    try:
        return eval(field.type, dict(vars(typing)) | (vars(module) if module else {}))  # noqa: S307 - annotations
    except Exception:  # noqa: BLE001 - an unresolvable annotation: the value is taken as it is
        return Any


def _schema_of(tp: Any) -> CoreSchema:
    from pydantic_core import core_schema as cs

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    scalars: dict[Any, CoreSchema] = {
        bool: cs.bool_schema(strict=True),
        int: cs.int_schema(strict=True),
        float: cs.float_schema(strict=True),
        str: cs.str_schema(strict=True),
    }
    if tp in scalars:
        return scalars[tp]
    if origin in (tuple, list):
        if len(args) == 2 and args[1] is Ellipsis or origin is list:
            item = _schema_of(args[0]) if args else cs.any_schema()
            return cs.list_schema(item, max_length=MAX_CHOICES)
        return cs.tuple_schema([_schema_of(a) for a in args]) if args else cs.list_schema(max_length=MAX_CHOICES)
    if origin is Literal:
        return cs.literal_schema(list(args))
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = _schema_of(rest[0]) if len(rest) == 1 else cs.union_schema([_schema_of(a) for a in rest])
        return cs.nullable_schema(inner) if len(rest) < len(args) else inner
    return cs.any_schema()
