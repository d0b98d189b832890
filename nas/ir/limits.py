"""Input limits: the largest architecture and search space `nas` accepts, one named constant each.

A file or an option can ask for anything; these bound what is accepted, so that a typo (a width
of 2**32, a 10,000-node graph, stage 10**12) is refused up front with a one-line message naming
the value and the limit, instead of overflowing, exhausting memory or hanging after minutes of
work. They are declared in the schemas (`nas.ir.schema`, `search_spaces.schema`) and checked
before anything is trained or written.

Each leaves room well beyond ResNet-50 scale (widths up to 2048, 5 stages, ~50 layers on the
longest path; written one op per node, ~180 nodes with its adds and projections): raise one
here, with a test, if a real network needs more.
"""

from __future__ import annotations

#: Channels of one node (ResNet-50 and -152 end at 2048, Wide ResNet-50-2 at 4096 inside blocks).
MAX_WIDTH = 8192
#: Nodes of one architecture, the 'input' and 'output' nodes included.
MAX_NODES = 4096
#: Inputs of one node (a DenseNet-264 layer concatenates at most 64 earlier ones).
MAX_FAN_IN = 256
#: Stages of a network: stage ``s`` runs at the input resolution halved ``s`` times, so a node's
#: stage is 0..MAX_STAGES-1 (stage 15 turns a 32768-pixel side into one pixel).
MAX_STAGES = 16
#: Nodes of one stage that a search space may sample (the largest ``depth`` option).
MAX_DEPTH = 256
#: Values in one list option of a search space (the widths of one stage, the op names, the groups).
MAX_CHOICES = 256
#: Dilation of one convolution (DeepLab's atrous rates reach 24; a 3x3 at dilation 64 spans 129 pixels).
MAX_DILATION = 64
#: Largest residual scale a (Y = X + a*F(X)); papers use 0.1 to 1.
MAX_SCALE = 16.0
#: Characters of an op name (the longest valid one, ``shuffle3x3_g8192``, has 16).
MAX_OP_NAME = 64
#: Bytes of an architecture JSON file (MAX_NODES nodes of MAX_FAN_IN inputs, indented, fit).
MAX_ARCH_BYTES = 32 * 1024 * 1024
#: Bytes of a search-space options file (.toml / .yaml).
MAX_OPTIONS_BYTES = 1024 * 1024

__all__ = [
    "MAX_ARCH_BYTES",
    "MAX_CHOICES",
    "MAX_DEPTH",
    "MAX_DILATION",
    "MAX_FAN_IN",
    "MAX_NODES",
    "MAX_OPTIONS_BYTES",
    "MAX_OP_NAME",
    "MAX_SCALE",
    "MAX_STAGES",
    "MAX_WIDTH",
]
