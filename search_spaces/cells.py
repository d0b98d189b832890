"""`skipcell`: cell mode. Search a normal and a reduction cell; stack them (DARTS / NAS-Bench-101).

A network is stem -> stage 0 -> reduction cell -> stage 1 -> ... -> global pool -> classifier.
Stage ``s`` is ``cells`` copies of the normal cell at width ``width_s{s}``; a reduction cell
(stride 2, the next stage's width) opens every stage after the first. Both cells are searched
once and repeated, as in DARTS (Liu et al. 2019): the search is over two small DAGs, not a
whole network, and the network's size is set by the stacking (``cells`` and the widths).

A cell reads the outputs of the two cells before it (``c0`` the older, ``c1`` the newer; the stem
for both at first), each first projected to the cell's width C by a 1x1 conv-BN-ReLU (strided
when ``c0`` is still at the finer resolution; only when an edge reads it). Then ``nodes`` intermediate nodes: node ``k``
adds two edges, each an op from ``ops`` applied to ``c0``, ``c1`` or an earlier node; the first
edge of node 0 always reads ``c1``, so that every cell's output is used (a cell that read only
``c0`` would leave the one before it dead). In a reduction cell, edges from ``c0``/``c1`` stride
by 2. The cell's output is the concat of its
intermediate nodes (width nodes x C).

Edge ops are the names in ``ops``, plus ``OP:dD`` for each weighted kxk op and each dilation D > 1
in ``dilations`` (``sepconv3x3:d2`` is DARTS' dil_conv_3x3). ``identity`` is a direct skip (the
add projects it when it strides), ``none`` drops the edge (DARTS' zero op; the first edge of a
node never takes it, so every node is live).

Why a registered space rather than a skipdag ``mode`` option: a cell search has its own
decisions (two cells' edges, ``cells``, ``nodes``) and none of skipdag's per-slot ones, so one
options table would hold two sets of which each mode ignores half; as its own space the options
are checked and stored for what they mean, and it is one flag: ``nas search --space skipcell``
(``--space-option cells=[2,2]`` and ``--space-config`` as for any space).

Optuna parameter names (each always with the same choices; a decision with one choice is not
asked)::

    width_s{s}              C of stage s, from widths[s]
    cells                   normal cells per stage, in [cells[0], cells[1]]
    normal_n{k}_in{e}       input of edge e (0, 1) of node k: "c0", "c1" or "n{i}" (i < k);
                            not asked for node 0's edge 0 (always "c1")
    normal_n{k}_op{e}       its op (edge 0 without 'none')
    reduce_n{k}_in{e}       the same for the reduction cell
    reduce_n{k}_op{e}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from nas.ir import Arch, op_name, parse_op
from nas.ir.blocks import Builder
from nas.ir.limits import MAX_CHOICES, MAX_DILATION, MAX_FAN_IN, MAX_NODES, MAX_STAGES, MAX_WIDTH
from search_spaces.base import SearchSpace, SpaceConfigError
from search_spaces.registry import register

if TYPE_CHECKING:
    from optuna.trial import BaseTrial
    from pydantic_core import CoreSchema

__all__ = ["CELL_OPS", "SkipCell", "SkipCellOptions"]

#: Edge ops a cell may use (ops that keep the width; 'none' drops the edge).
CELL_OPS: tuple[str, ...] = (
    "conv3x3",
    "conv5x5",
    "conv1x1",
    "sepconv3x3",
    "sepconv5x5",
    "dwconv3x3",
    "dwconv5x5",
    "maxpool3x3",
    "avgpool3x3",
    "identity",
    "none",
)
CELLS = ("normal", "reduce")


@dataclass(frozen=True)
class SkipCellOptions:
    """skipcell options; the fields are the defaults."""

    widths: tuple[tuple[int, ...], ...] = ((16, 24, 32), (32, 48, 64), (64, 96, 128))
    cells: tuple[int, ...] = (1, 2)
    nodes: int = 4
    ops: tuple[str, ...] = (
        "conv3x3",
        "conv1x1",
        "sepconv3x3",
        "sepconv5x5",
        "maxpool3x3",
        "avgpool3x3",
        "identity",
        "none",
    )
    dilations: tuple[int, ...] = (1, 2)


@register
class SkipCell(SearchSpace):
    """Cell mode: a normal and a reduction cell, stacked; see the module docstring."""

    name = "skipcell"
    Options = SkipCellOptions
    OPTION_RULES: ClassVar[dict[str, str]] = {
        "widths": f"widths must be one non-empty list of cell widths C per stage (at most {MAX_STAGES} stages, "
        f"MAX_STAGES), each an integer from 1 to {MAX_WIDTH} (MAX_WIDTH), e.g. [[16, 32], [32, 64]]",
        "cells": "cells must be [min, max] normal cells per stage, integers from 1 to 64, e.g. [1, 3]",
        "nodes": f"nodes must be an integer from 1 to 16: the intermediate nodes of a cell (at most {MAX_FAN_IN})",
        "ops": f"ops must be a non-empty list of op names from: {', '.join(CELL_OPS)}",
        "dilations": f"dilations must be a non-empty list of integers from 1 to {MAX_DILATION}, e.g. [1, 2]",
    }

    @classmethod
    def options_schema(cls) -> CoreSchema:
        """Each option's type and bounds (`nas.ir.limits`)."""
        from pydantic_core import core_schema as cs

        def option(schema: CoreSchema) -> cs.TypedDictField:
            return cs.typed_dict_field(schema, required=False)

        def integer(lo: int, hi: int) -> CoreSchema:
            return cs.int_schema(strict=True, ge=lo, le=hi)

        def choices(item: CoreSchema) -> CoreSchema:
            return cs.list_schema(item, min_length=1, max_length=MAX_CHOICES)

        return cs.typed_dict_schema(
            {
                "widths": option(cs.list_schema(choices(integer(1, MAX_WIDTH)), min_length=1, max_length=MAX_STAGES)),
                "cells": option(cs.list_schema(integer(1, 64), min_length=2, max_length=2)),
                "nodes": option(integer(1, 16)),
                "ops": option(choices(cs.literal_schema(list(CELL_OPS)))),
                "dilations": option(choices(integer(1, MAX_DILATION))),
            },
            extra_behavior="forbid",
        )

    def check_options(self) -> None:
        o = self.options
        bad = SpaceConfigError
        if not o.cells[0] <= o.cells[1]:
            raise bad(f"option 'cells' must be [min, max] with 1 <= min <= max, got {list(o.cells)}")
        if not [op for op in o.ops if op != "none"]:
            raise bad("option 'ops' needs an op besides 'none' (a node's first edge never takes 'none')")
        stages = len(o.widths)
        most = 2 + (stages * o.cells[1] + stages - 1) * (3 + 3 * o.nodes)
        if most > MAX_NODES:
            raise bad(
                f"options 'widths' ({stages} stages), 'cells' (up to {o.cells[1]}) and 'nodes' ({o.nodes}) allow "
                f"{most} nodes, more than {MAX_NODES} (MAX_NODES); use fewer cells, nodes or stages"
            )
        for s, stage in enumerate(o.widths):
            for c in stage:
                if c * o.nodes > MAX_WIDTH:
                    raise bad(
                        f"width {c} of stage {s} times {o.nodes} nodes is {c * o.nodes} channels at a cell's "
                        f"output, more than {MAX_WIDTH} (MAX_WIDTH); use smaller widths or fewer nodes"
                    )

    def edge_ops(self) -> list[str]:
        """The edge op choices: `ops`, then the dilated variants ``OP:dD``."""
        o = self.options
        out = list(o.ops)
        for op in o.ops:
            spec = parse_op(op)
            if spec.weighted and spec.kernel > 1:
                out += [f"{op}:d{d}" for d in o.dilations if d > 1]
        return out

    def sample(self, trial: BaseTrial) -> Arch:
        o = self.options

        def pick(name: str, choices: list[Any]) -> Any:
            return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, choices)

        widths = [pick(f"width_s{s}", list(o.widths[s])) for s in range(len(o.widths))]
        n = trial.suggest_int("cells", o.cells[0], o.cells[1]) if o.cells[0] < o.cells[1] else o.cells[0]
        ops = self.edge_ops()
        genes: dict[str, list[list[tuple[str, str]]]] = {}
        for cell in CELLS if len(widths) > 1 else CELLS[:1]:  # one stage: no reduction cell
            genes[cell] = []
            for k in range(o.nodes):
                sources = ["c0", "c1", *(f"n{i}" for i in range(k))]
                edges = [
                    (
                        pick(f"{cell}_n{k}_in{e}", ["c1"] if k == e == 0 else sources),
                        pick(f"{cell}_n{k}_op{e}", [x for x in ops if x != "none"] if e == 0 else ops),
                    )
                    for e in range(2)
                ]
                genes[cell].append(edges)
        b = Builder()
        h0 = h1 = b.stem("input", widths[0])
        for s, c in enumerate(widths):
            if s:
                h0, h1 = h1, _cell(b, genes["reduce"], h0, h1, c, reduction=True)
            for _ in range(n):
                h0, h1 = h1, _cell(b, genes["normal"], h0, h1, c, reduction=False)
        return b.output(h1)

    def designs(self) -> dict[str, dict[str, Any]]:
        """Known cells by name, as Optuna parameters (see `SkipDAG.designs`): ``darts_v2``, the
        DARTS (second order) cells with this IR's ops (a single separable conv where DARTS
        stacks two), C = 16-32-64 and 2 cells a stage. Listed when this configured space holds it."""
        import warnings

        from optuna.trial import FixedTrial

        out = {}
        for name, params in DESIGNS.items():
            trial = FixedTrial(params)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    self.sample(trial)
            except (ValueError, Warning):
                continue
            if set(trial.params) == set(params):
                out[name] = params
        return out


def _cell(b: Builder, genes: list[list[tuple[str, str]]], h0: int, h1: int, c: int, *, reduction: bool) -> int:
    """Append one cell reading h0 and h1; return its output node (the concat of its nodes)."""
    stage = b.stage(h1)
    inputs: dict[str, int] = {}
    for name, h in (("c0", h0), ("c1", h1)):  # projected only when an edge reads it (no dead weights)
        if any(src == name and op != "none" for edges in genes for src, op in edges):
            inputs[name] = b.add("conv1x1", h, c, stage)
    out_stage = stage + (1 if reduction else 0)
    done: list[int] = []
    for k, edges in enumerate(genes):
        terms: list[int] = []
        first = inputs[edges[0][0]]  # edge 0 never takes 'none': its source is projected
        for src_name, label in edges:
            src = inputs.get(src_name, first)  # a 'none' edge from an unprojected input: any live node
            if label == "none":  # the edge is absent (DARTS' zero op): merges skip the node
                terms.append(b.add("none", src, c, out_stage))
                continue
            edge_stage = out_stage if src_name in ("c0", "c1") else b.stage(src)
            op, _, dil = label.partition(":d")
            if op == "identity" and src not in terms:
                terms.append(src)  # a direct skip (the add projects it when it strides)
            else:
                terms.append(b.add(op_name(op), src, c, edge_stage, dilation=int(dil or 1)))
        node = b.add("identity", tuple(terms), c, out_stage, merge="add") if len(terms) > 1 else terms[0]
        if b.stage(node) != out_stage:  # one direct skip from a cell input in a reduction cell
            node = b.add("identity", node, c, out_stage)
        inputs[f"n{k}"] = node
        done.append(node)
    return b.add("identity", tuple(done), c * len(done), out_stage, merge="concat") if len(done) > 1 else done[0]


#: name -> Optuna parameters of the default space (see `SkipCell.designs`).
DESIGNS: dict[str, dict[str, Any]] = {
    "darts_v2": {
        "width_s0": 16,
        "width_s1": 32,
        "width_s2": 64,
        "cells": 2,
        **{
            f"{cell}_n{k}_{what}{e}": value
            for cell, genes in (
                (
                    "normal",
                    [
                        [("c1", "sepconv3x3"), ("c0", "sepconv3x3")],
                        [("c0", "sepconv3x3"), ("c1", "sepconv3x3")],
                        [("c1", "sepconv3x3"), ("c0", "identity")],
                        [("c0", "identity"), ("n0", "sepconv3x3:d2")],
                    ],
                ),
                (
                    "reduce",
                    [
                        [("c1", "maxpool3x3"), ("c0", "maxpool3x3")],
                        [("n0", "identity"), ("c1", "maxpool3x3")],
                        [("c0", "maxpool3x3"), ("n0", "identity")],
                        [("n0", "identity"), ("c1", "maxpool3x3")],
                    ],
                ),
            )
            for k, edges in enumerate(genes)
            for e, (src, op) in enumerate(edges)
            for what, value in (("in", src), ("op", op))
            if (k, e, what) != (0, 0, "in")  # node 0's first edge always reads c1: not asked
        },
    },
}
