"""The `SearchSpace` base class and option handling shared by every space (no torch)."""

from __future__ import annotations

import abc
import dataclasses
import os
import tomllib
from typing import TYPE_CHECKING, Any, ClassVar

from nas.ir import Arch

if TYPE_CHECKING:
    from optuna.trial import BaseTrial


class SpaceConfigError(ValueError):
    """Bad search-space options; the message names the option and the fix."""


class SearchSpace(abc.ABC):
    """A family of architectures that an Optuna trial samples from.

    Subclasses set `name`, `Options` (a frozen dataclass whose fields are the defaults) and
    implement `sample`. The same decision must always use the same parameter name so
    model-based samplers (TPE, GP) can learn from history.
    """

    name: ClassVar[str]
    Options: ClassVar[type]

    def __init__(self, **options: Any) -> None:
        self.options = _make_options(self.Options, options, self.name)
        self.check_options()

    @abc.abstractmethod
    def sample(self, trial: BaseTrial) -> Arch:
        """Return the architecture chosen by `trial` (any `optuna.trial.BaseTrial`)."""

    def check_options(self) -> None:  # noqa: B027 - an optional hook, no-op by default
        """Hook: raise SpaceConfigError for option combinations that cannot work."""

    def options_dict(self) -> dict[str, Any]:
        """JSON-serialisable options (stored with a search, so it can be rebuilt)."""
        options: dict[str, Any] = _jsonable(dataclasses.asdict(self.options))
        return options

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options_dict()})"


def read_options_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Options from a TOML (.toml) or YAML (.yaml/.yml) file, as a dict."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SpaceConfigError(f"space config file {path!r} not found; pass an existing .toml or .yaml file")
    try:
        if path.endswith(".toml"):
            with open(path, "rb") as f:
                data = tomllib.load(f)
        elif path.endswith((".yaml", ".yml")):
            import yaml

            with open(path) as f:
                data = yaml.safe_load(f) or {}
        else:
            raise SpaceConfigError(f"space config file {path!r}: use a .toml, .yaml or .yml file")
    except SpaceConfigError:
        raise
    except Exception as e:  # parse errors of either format
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SpaceConfigError(f"space config file {path!r} does not parse: {msg}") from None
    if not isinstance(data, dict):
        raise SpaceConfigError(f"space config file {path!r} must hold a table of options")
    return data


def _make_options(cls: type, given: dict[str, Any], space: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in given:
        if key not in fields:
            raise SpaceConfigError(
                f"unknown option {key!r} for search space {space!r}; valid options: {', '.join(fields)}"
            )
    values = {}
    for key, value in given.items():
        default = getattr(cls(), key)
        values[key] = _coerce(value, default, key, space)
    return cls(**values)


def _coerce(value: Any, default: Any, key: str, space: str) -> Any:
    """Lists become tuples (options are frozen); types must match the default's."""
    bad = SpaceConfigError(
        f"option {key!r} of search space {space!r} must look like {_jsonable(default)!r}, got {value!r}"
    )
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or (default and not value):
            raise bad
        proto = default[0] if default else None
        return tuple(_coerce(v, proto, key, space) if proto is not None else v for v in value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise bad
    return value


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v
