"""Search spaces: one module per space (`skipdag`), a base class and a registry by name.

Pure graph code: imports `nas.ir` only, never torch. `get("skipdag", **options)` returns a
configured space whose `sample(trial)` gives an `Arch`.

Lives here: the `SearchSpace` base class and option handling (`base`), the registry (`registry`),
one module per space (`skipdag`, `skipcell` in `cells`, `skipunet`), the presets (`presets`).
May import: `nas.ir` and the root `nas`; never `db`, `workers` or anything above; never torch.
"""

from search_spaces.base import SearchSpace, SpaceConfigError, read_options_file
from search_spaces.registry import get, names, register, space_class, unregister

from search_spaces import skipdag as _skipdag  # noqa: E402,F401  isort: skip  (registers the built-ins)
from search_spaces import cells as _cells  # noqa: E402,F401  isort: skip
from search_spaces import skipunet as _skipunet  # noqa: E402,F401  isort: skip

__all__ = [
    "SearchSpace",
    "SpaceConfigError",
    "get",
    "names",
    "read_options_file",
    "register",
    "space_class",
    "unregister",
]
