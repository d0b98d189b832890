"""The registry of search spaces: `register`, `get` and `names`.

    >>> import search_spaces
    >>> space = search_spaces.get("skipdag", depth=[1, 2])
    >>> search_spaces.names()
    ['skipdag']

Third-party packages add spaces through the entry-point group ``nas.search_spaces``
(``name = "package.module:SpaceClass"``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from search_spaces.base import SearchSpace, SpaceConfigError, read_options_file

__all__ = ["get", "names", "register", "space_class", "unregister"]

_REGISTRY: dict[str, type[SearchSpace]] = {}
_ENTRY_POINT_GROUP = "nas.search_spaces"
_loaded_entry_points = False


def register(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator: make `cls` available as `get(cls.name)`."""
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove the space `name` (a no-op when it is not registered); for tests and plugins."""
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for ep in entry_points(group=_ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            try:
                cls = ep.load()
            except Exception as e:  # a broken plugin must not take the built-ins down
                import warnings

                warnings.warn(f"search space plugin {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)
                continue
            _REGISTRY[ep.name] = cls


def names() -> list[str]:
    """Names of every registered space, built-in and plugin."""
    _load_entry_points()
    return sorted(_REGISTRY)


def space_class(name: str) -> type[SearchSpace]:
    """The class registered as `name` (its `task` and `default_dataset`, without configuring it).

    Raises:
        SpaceConfigError: unknown name.
    """
    _load_entry_points()
    if name not in _REGISTRY:
        raise SpaceConfigError(f"unknown search space {name!r}; available: {', '.join(names())}")
    return _REGISTRY[name]


def get(name: str, config_file: str | None = None, **options: Any) -> SearchSpace:
    """A configured space: options from `config_file` (TOML/YAML), overridden by keywords.

    Raises:
        SpaceConfigError: unknown name, unknown option or a bad value.
    """
    _load_entry_points()
    if name not in _REGISTRY:
        raise SpaceConfigError(f"unknown search space {name!r}; available: {', '.join(names())}")
    merged = dict(read_options_file(config_file)) if config_file else {}
    merged.update(options)
    return _REGISTRY[name](**merged)
