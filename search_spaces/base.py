"""The `SearchSpace` base class and option handling shared by every space (no torch).

Options are checked against the space's declared schema (`SearchSpace.options_schema`, checked
in `search_spaces.schema`), then by the space's own `check_options` for rules across options.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import tomllib
from typing import TYPE_CHECKING, Any, ClassVar

from nas.ir import Arch
from nas.ir.limits import MAX_OPTIONS_BYTES

if TYPE_CHECKING:
    from optuna.trial import BaseTrial
    from pydantic_core import CoreSchema


class SpaceConfigError(ValueError):
    """Bad search-space options; the message names the option and the fix."""


class SearchSpace(abc.ABC):
    """A family of architectures that an Optuna trial samples from.

    Subclasses set `name`, `Options` (a frozen dataclass whose fields are the defaults) and
    implement `sample`; they should declare the schema of their options (`options_schema`,
    with the limits of `nas.ir.limits`) and say in `OPTION_RULES` what each option must be.
    The same decision must always use the same parameter name so model-based samplers (TPE,
    GP) can learn from history.
    """

    name: ClassVar[str]
    Options: ClassVar[type]
    #: What its networks predict: 'classify' (one label per image, an 'output' node) or
    #: 'segment' (one label per pixel, a 'pixels' node; `search_spaces.skipunet`).
    task: ClassVar[str] = "classify"
    #: The dataset a search of this space uses unless told (None: `nas search`'s default).
    default_dataset: ClassVar[str | None] = None
    #: option -> what it must be, the fix every message about it ends with (default: its default)
    OPTION_RULES: ClassVar[dict[str, str]] = {}

    def __init__(self, **options: Any) -> None:
        from search_spaces.schema import validate_options

        self.options = self.Options(**validate_options(type(self), options))
        self.check_options()

    @classmethod
    def options_schema(cls) -> CoreSchema:
        """The pydantic-core schema of the options, a typed dict of optional fields (imports
        pydantic_core: call it lazily). By default derived from the `Options` field types."""
        from search_spaces.schema import derived_schema

        return derived_schema(cls.Options)

    @abc.abstractmethod
    def sample(self, trial: BaseTrial) -> Arch:
        """Return the architecture chosen by `trial` (any `optuna.trial.BaseTrial`)."""

    def designs(self) -> dict[str, dict[str, Any]]:
        """Named known networks of this space, as the Optuna parameters that sample them
        (`nas search --enqueue-preset NAME` enqueues them); none by default."""
        return {}

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
        what = "is a directory" if os.path.isdir(path) else "not found"
        raise SpaceConfigError(f"space config file {path!r} {what}; pass an existing .toml or .yaml file")
    size = os.path.getsize(path)
    if size > MAX_OPTIONS_BYTES:
        raise SpaceConfigError(
            f"space config file {path!r} is {size:,} bytes, over the limit of {MAX_OPTIONS_BYTES:,} "
            "(MAX_OPTIONS_BYTES); options take a few lines"
        )
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


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v
