"""The declared schema of an architecture (``nas.arch/1`` JSON), and one-line messages for its errors.

One schema states what every field of an architecture may hold: its type, its range and the
limit it is bounded by (`nas.ir.limits`). `Arch.from_json` / `Arch.from_dict` check files
against it and `Arch.validate` checks every `Arch` built in Python against the same node schema;
only what relates nodes to each other (cycles, dangling inputs, stage order, groups dividing
widths) is checked by hand in `Arch.validate`. Search-space options use the same library and the
same message form (`search_spaces.schema`).

Library: pydantic, through its validation core `pydantic_core` (a schema declared as data with
`pydantic_core.core_schema`, compiled once into a `SchemaValidator`). Chosen over jsonschema
because it validates in compiled code (a 4096-node file in milliseconds, where jsonschema walks
Python objects), parses JSON itself with a depth limit and big-integer handling (no
RecursionError, no 4300-digit ValueError from `json`), and reports each error as a location,
an error type and the offending input, from which the messages below are built. The core schema
rather than `pydantic.BaseModel` classes because importing pydantic's model machinery and
building the models costs ~40 ms at first use, which `nas show` (a read command that parses a
stored architecture) would pay; the core schema costs ~9 ms. It is imported lazily, on the
first validation: `import nas` and `nas --help` never load it.

Messages are one line: where (``node 3 (conv3x3)``), the field and the value, what is wrong,
and the rule that says how to fix it, e.g.::

    node 3 (conv3x3): width = 1000000000 is out of range; width must be an integer from 1 to 8192 (MAX_WIDTH)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nas.ir.arch import MERGES, READ_SCHEMAS, SCHEMA
from nas.ir.graph import NODE_DEFAULTS, InvalidArchitecture, Node
from nas.ir.limits import (
    MAX_ARCH_BYTES,
    MAX_DILATION,
    MAX_FAN_IN,
    MAX_NODES,
    MAX_OP_NAME,
    MAX_SCALE,
    MAX_STAGES,
    MAX_WIDTH,
)
from nas.ir.ops import ACTS

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails, SchemaValidator, ValidationError

__all__ = ["ARCH_RULES", "NODE_RULES", "check_nodes", "describe", "parse_arch", "parse_arch_json", "problem"]

#: The rule of each field, named by every message about it ("" is the object holding the fields).
NODE_RULES: dict[str, str] = {
    "": "a node is an object with the keys op, merge, inputs, stage and width, and optionally "
    + ", ".join(NODE_DEFAULTS),
    "op": f"op must be an op name such as 'conv3x3' or 'gconv3x3_g4' (at most {MAX_OP_NAME} characters)",
    "merge": "merge must be 'add', 'concat' or null",
    "inputs": f"inputs must be a list of at most {MAX_FAN_IN} node indices (MAX_FAN_IN)",
    "stage": f"stage must be an integer from 0 to {MAX_STAGES - 1} (MAX_STAGES = {MAX_STAGES})",
    "width": f"width must be an integer from 1 to {MAX_WIDTH} (MAX_WIDTH)",
    "act": f"act must be one of {', '.join(map(repr, ACTS))} or null (the op's default)",
    "dilation": f"dilation must be an integer from 1 to {MAX_DILATION} (MAX_DILATION)",
    "scale": f"scale must be a number above 0 and at most {MAX_SCALE} (MAX_SCALE)",
    "zero_init": "zero_init must be true or false",
    "shortcut": "shortcut must be 'proj' or 'avgproj'",
    "tie": f"tie must be an integer from 0 (untied) to {MAX_NODES}",
    "dropout": "dropout must be a number from 0 to below 1",
}
ARCH_RULES: dict[str, str] = {
    "": f'an architecture is a JSON object with exactly the keys "schema" ({SCHEMA!r}) and "nodes"',
    "schema": f"schema must be one of {', '.join(map(repr, READ_SCHEMAS))} (what this version of nas reads)",
    "nodes": f"nodes must be a list of 2 to {MAX_NODES} node objects (MAX_NODES)",
}


@functools.cache
def _validators() -> tuple[SchemaValidator, SchemaValidator]:
    """(the file schema, the node-list schema), compiled on first use."""
    from pydantic_core import SchemaValidator
    from pydantic_core import core_schema as cs

    def required(schema: cs.CoreSchema) -> cs.TypedDictField:
        return cs.typed_dict_field(schema, required=True)

    def optional(schema: cs.CoreSchema) -> cs.TypedDictField:
        return cs.typed_dict_field(schema, required=False)

    node = cs.typed_dict_schema(
        {
            "op": required(cs.str_schema(strict=True, max_length=MAX_OP_NAME)),
            "merge": required(cs.nullable_schema(cs.literal_schema(list(MERGES)))),
            "inputs": required(cs.list_schema(cs.int_schema(strict=True, ge=0), max_length=MAX_FAN_IN)),
            "stage": required(cs.int_schema(strict=True, ge=0, lt=MAX_STAGES)),
            "width": required(cs.int_schema(strict=True, ge=1, le=MAX_WIDTH)),
            "act": optional(cs.nullable_schema(cs.literal_schema(list(ACTS)))),
            "dilation": optional(cs.int_schema(strict=True, ge=1, le=MAX_DILATION)),
            "scale": optional(cs.float_schema(gt=0, le=MAX_SCALE, allow_inf_nan=False)),
            "zero_init": optional(cs.bool_schema(strict=True)),
            "shortcut": optional(cs.literal_schema(["proj", "avgproj"])),
            "tie": optional(cs.int_schema(strict=True, ge=0, le=MAX_NODES)),
            "dropout": optional(cs.float_schema(ge=0, lt=1, allow_inf_nan=False)),
        },
        extra_behavior="forbid",
    )
    nodes = cs.list_schema(node, min_length=2, max_length=MAX_NODES, fail_fast=True)
    arch = cs.typed_dict_schema(
        {"schema": required(cs.literal_schema(list(READ_SCHEMAS))), "nodes": required(nodes)}, extra_behavior="forbid"
    )
    return SchemaValidator(arch), SchemaValidator(nodes)


# ---- checking ------------------------------------------------------------------------------
def parse_arch_json(text: str | bytes) -> tuple[Node, ...]:
    """The nodes of an architecture JSON document (not yet checked as a graph).

    Raises:
        InvalidArchitecture: too big, not JSON, or against the schema; one line.
    """
    from pydantic_core import from_json

    if not isinstance(text, (str, bytes, bytearray)):
        raise InvalidArchitecture(f"arch JSON must be text, got {type(text).__name__}")
    if len(text) > MAX_ARCH_BYTES:
        unit = "characters" if isinstance(text, str) else "bytes"
        raise InvalidArchitecture(
            f"arch JSON is {len(text):,} {unit} long, over the limit of {MAX_ARCH_BYTES:,} (MAX_ARCH_BYTES); "
            "an architecture of the largest allowed size takes far less"
        )
    try:
        data = from_json(text, allow_inf_nan=False)
    except ValueError as e:
        raise InvalidArchitecture(f"arch is not valid JSON: {e}") from None
    return parse_arch(data)


def parse_arch(data: Any) -> tuple[Node, ...]:
    """The nodes of an architecture document already parsed into Python objects (`Arch.to_dict`)."""
    from pydantic_core import ValidationError

    validator = _validators()[0]
    try:
        doc = validator.validate_python(data)
    except ValidationError as e:
        raise InvalidArchitecture(describe(e, data, _arch_where)) from None
    return tuple(_node(n) for n in doc["nodes"])


def _node(fields: dict[str, Any]) -> Node:
    extra = {k: fields[k] for k in NODE_DEFAULTS if k in fields}
    return Node(fields["op"], tuple(fields["inputs"]), fields["merge"], fields["stage"], fields["width"], **extra)


def check_nodes(nodes: Sequence[Node]) -> None:
    """Check every node's fields against the schema (the graph rules are `Arch.validate`'s)."""
    from pydantic_core import ValidationError

    if len(nodes) > MAX_NODES:  # before building a dict per node
        raise InvalidArchitecture(
            f"the architecture has {len(nodes)} nodes, more than {MAX_NODES}; {ARCH_RULES['nodes']}"
        )
    data = [
        {"op": n.op, "merge": n.merge, "inputs": n.inputs, "stage": n.stage, "width": n.width} | n.extras()
        if isinstance(n, Node)
        else n
        for n in nodes
    ]
    try:
        _validators()[1].validate_python(data)
    except ValidationError as e:
        raise InvalidArchitecture(describe(e, {"nodes": data}, _arch_where, ("nodes",))) from None


# ---- messages ------------------------------------------------------------------------------
Loc = tuple[str | int, ...]
#: where(loc, data) -> (who the error concerns, the field path within it, that owner's rules)
Where = Callable[[Loc, Any], tuple[str, Loc, Mapping[str, str]]]


def _arch_where(loc: Loc, data: Any) -> tuple[str, Loc, Mapping[str, str]]:
    """Split an error location into who (``node 3 (conv3x3)``) and the field path within it."""
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        i = loc[1]
        try:
            op = data["nodes"][i]["op"]
        except (LookupError, TypeError):
            op = None
        who = f"node {i} ({op})" if isinstance(op, str) and 0 < len(op) <= MAX_OP_NAME else f"node {i}"
        return who, loc[2:], NODE_RULES
    return "arch", loc, ARCH_RULES


def describe(error: ValidationError, data: Any, where: Where, prefix: Loc = ()) -> str:
    """One line for the first error of `error`: who, field = value, what is wrong, the rule.

    `where(loc, data)` splits the error's location (after `prefix`) into who it concerns, the
    field path left and the rules of that owner: ``rules[field]`` for the last field name in
    the path, ``rules[""]`` for the owner itself (a missing or unknown key).
    """
    err = error.errors(include_url=False)[0]
    who, path, rules = where((*prefix, *err["loc"]), data)
    return f"{who}: {problem(err, path, rules)}"


def problem(err: ErrorDetails, path: Loc, rules: Mapping[str, str]) -> str:
    """'field = value is wrong; rule' for one pydantic-core error at `path` (relative to its owner)."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind in ("missing", "extra_forbidden", "invalid_key"):
        key = path[-1] if path else "?"
        what = "missing key" if kind == "missing" else "unknown key"
        return f"{what} {str(key)!r}; {rules.get('', '')}"
    names = [p for p in path if isinstance(p, str)]
    rule = rules.get(names[-1] if names else "", err["msg"])
    field = format_path(path)
    if kind in ("too_long", "too_short"):
        more = "more" if kind == "too_long" else "fewer"
        bound = ctx.get("max_length" if kind == "too_long" else "min_length")
        n = ctx.get("actual_length", "?")
        return f"{field or 'it'} has {n} item{'' if n == 1 else 's'}, {more} than {bound}; {rule}"
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        wrong = "is out of range"
    elif kind == "literal_error":
        wrong = "is not allowed"
    elif kind == "string_too_long":
        wrong = f"is longer than {ctx.get('max_length')} characters"
    elif kind.endswith("_type") or kind in ("int_from_float", "int_parsing", "bool_parsing"):
        wrong = f"has the wrong type ({type(value).__name__})"
    else:
        wrong = f"is not allowed ({err['msg']})"
    return f"{field + ' = ' if field else ''}{shown(value)} {wrong}; {rule}"


def format_path(path: Sequence[str | int]) -> str:
    """('widths', 0, 1) -> 'widths[0][1]'."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def shown(value: Any, limit: int = 40) -> str:
    """A short one-line repr: long values are cut, containers of many items counted."""
    if isinstance(value, (list, tuple, dict, set)) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return "an integer of more than 4300 digits"
    return text if len(text) <= limit else text[: limit - 3] + "..."
