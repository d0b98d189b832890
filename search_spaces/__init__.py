"""Search spaces: one module per space (`skipdag`), a base class and a registry by name.

Pure graph code: imports `nas.ir` only, never torch. `get("skipdag", **options)` returns a
configured space whose `sample(trial)` gives an `Arch`.

Lives here: the `SearchSpace` base class and option handling (`base`), the registry (`registry`),
one module per space (`skipdag`).
May import: `nas.ir` and the root `nas`; never `db`, `workers` or anything above; never torch.
"""

from search_spaces.base import SearchSpace, SpaceConfigError, read_options_file
from search_spaces.registry import get, names, register, unregister

from search_spaces import skipdag as _skipdag  # noqa: E402,F401  isort: skip  (registers the built-ins)

__all__ = ["SearchSpace", "SpaceConfigError", "get", "names", "read_options_file", "register", "unregister"]
