"""Seed a search with known designs (`--enqueue-preset NAME`, `--enqueue FILE.json`).

Each goes to Optuna as `study.enqueue_trial`, so it is the next trial asked, and it trains,
deduplicates and ranks like any other:

- a design of the space (`space.designs()[NAME]`) or a params file (a JSON object of the
  space's Optuna parameters) is enqueued as those parameters: the sampler learns from it as
  from any trial of the space;
- a preset (`search_spaces.presets`, e.g. resnet18, built for the search's input shape) or an
  architecture file (`nas.arch/...` JSON) is not expressible as the space's parameters: it is
  enqueued with no parameters and the architecture as the user attribute "arch", and the driver
  trains that architecture instead of sampling one (`arch_of`).

An item already enqueued by this search (a resume) is not enqueued again. Everything is checked
by `resolve` before the search writes anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from nas.ir import Arch, InvalidArchitecture
from nas.search.config import ConfigError

#: User attributes of an enqueued trial: what it is and, for an architecture, its JSON.
ENQUEUED_ATTR = "enqueued"
ARCH_ATTR = "arch_enqueued"


@dataclass(frozen=True)
class Item:
    """One design to enqueue: its `label`, and either Optuna `params` or a preset/arch to build."""

    label: str
    params: dict[str, Any] | None = None
    preset: str | None = None
    arch_json: str | None = None


def resolve(space: Any, presets: list[str], files: list[str]) -> list[Item]:
    """The items `--enqueue-preset` and `--enqueue` name, checked.

    Raises:
        ConfigError: an unknown name or a bad file, in one line naming it and the fix.
    """
    from search_spaces.presets import PRESETS

    designs = space.designs()
    items = []
    for name in presets:
        if name in designs:
            items.append(Item(f"design:{name}", params=dict(designs[name])))
        elif name in PRESETS:
            if PRESETS[name].task != getattr(space, "task", "classify"):
                raise ConfigError(f"--enqueue-preset {name}: a {PRESETS[name].task} network; this space is not")
            items.append(Item(f"preset:{name}", preset=name))
        else:
            known = ", ".join([*sorted(designs), *sorted(PRESETS)])
            raise ConfigError(
                f"--enqueue-preset {name!r} is not a design of {space.name} nor a preset; use one of: {known}"
            )
    for path in files:
        try:
            with open(path, "rb") as f:
                text = f.read(32 * 1024 * 1024 + 1)
            data = json.loads(text)
        except OSError as e:
            raise ConfigError(
                f"--enqueue {path!r}: cannot be read ({e.strerror}); give an existing JSON file"
            ) from None
        except (ValueError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"--enqueue {path!r}: not JSON ({e}); give an architecture or a params JSON file"
            ) from None
        label = f"file:{os.path.basename(path)}"
        if isinstance(data, dict) and "schema" in data:
            try:
                arch = Arch.from_dict(data)
            except InvalidArchitecture as e:
                raise ConfigError(f"--enqueue {path!r}: {e}") from None
            items.append(Item(label, arch_json=arch.to_json()))
        elif isinstance(data, dict) and data and all(isinstance(k, str) for k in data):
            items.append(Item(label, params=data))
        else:
            raise ConfigError(
                f"--enqueue {path!r}: neither an architecture (with a 'schema' key) nor a params object; "
                'write one with `nas sample --out` or as {"param": value, ...}'
            )
    return items


def enqueue(study: Any, items: list[Item], input_shape: tuple[int, int, int]) -> int:
    """Enqueue the items not enqueued before in this study; returns how many were."""
    from search_spaces.presets import preset

    done = {t.user_attrs.get(ENQUEUED_ATTR) for t in study.get_trials(deepcopy=False)}
    n = 0
    for item in items:
        if item.label in done:
            continue
        attrs: dict[str, Any] = {ENQUEUED_ATTR: item.label}
        if item.params is not None:
            study.enqueue_trial(item.params, user_attrs=attrs)
        else:
            arch = preset(item.preset, input_shape) if item.preset else Arch.from_json(item.arch_json or "")
            study.enqueue_trial({}, user_attrs={**attrs, ARCH_ATTR: arch.to_json()})
        n += 1
    return n


def arch_of(trial: Any, space: Any) -> Arch:
    """The trial's architecture: the enqueued one, or the space's sample (canonical either way)."""
    text = trial.user_attrs.get(ARCH_ATTR)
    if text is not None:
        return Arch.from_json(text).canonical()
    return space.sample(trial).canonical()
