"""Params and FLOPs per (architecture, input shape, classes), and revision 0002 that adds them.

Runs on every backend (`url` fixture). The migration test builds a database at revision 0001
with Alembic's own command, writes rows as the old code did, then lets `db.connect` upgrade it.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

import db
import search_spaces
from db._schema import alembic_config
from db._version import HEAD, REVISIONS
from nas.ir import cost
from tests.helpers import sample_archs

KEY = "cfg-1ep"
MNIST = ((1, 28, 28), 10)
CIFAR100 = ((3, 32, 32), 100)


def _complete(store, search, number, arch_hash, val=0.5) -> int:
    trial_id = store.start_trial(search, number, arch_hash, KEY)
    store.finish_trial(trial_id, "complete", val_accuracy=val)
    return trial_id


def test_revision_list_matches_alembic_history():
    script = ScriptDirectory.from_config(alembic_config())
    assert [r.revision for r in reversed(list(script.walk_revisions()))] == list(REVISIONS)
    assert set(script.get_heads()) == {HEAD}


def test_same_architecture_has_each_searchs_cost(store, new_search):
    """One architecture in a 1x28x28/10-class search and a 3x32x32/100-class one: each
    leaderboard (and each trial record) reports the costs for its own search's data."""
    arch = sample_archs(search_spaces.get("skipdag"), 1)[0].canonical()
    small, large = cost(arch, *MNIST), cost(arch, *CIFAR100)
    assert small.params != large.params
    h = arch.hash()
    new_search("fm", dataset="fashion-mnist")
    new_search("c100", dataset="cifar100")
    assert store.get_search("fm").input_shape is None
    store.set_search_shape("fm", *MNIST)
    store.set_search_shape("c100", *CIFAR100)
    # as the driver does: each search stores the architecture with the cost for its shape
    first = store.upsert_architecture(
        h, arch.to_json(), small.params, small.flops, arch.summary(), input_shape=MNIST[0], num_classes=10
    )
    again = store.upsert_architecture(
        h, arch.to_json(), large.params, large.flops, arch.summary(), input_shape=(3, 32, 32), num_classes=100
    )
    assert again == first and first.params == small.params  # the architecture row is kept
    _complete(store, "fm", 0, h, 0.9)
    _complete(store, "c100", 0, h, 0.4)

    (fm,) = store.leaderboard("fm")
    (c100,) = store.leaderboard("c100")
    assert (fm.params, fm.flops) == (small.params, small.flops)
    assert (c100.params, c100.flops) == (large.params, large.flops)
    both = {r.search: r.params for r in store.leaderboard(None)}
    assert both == {"fm": small.params, "c100": large.params}
    assert store.get_trial("c100", 0).params == large.params
    assert store.get_trial("fm", 0).flops == small.flops

    costs = store.costs(h)
    assert [(c.input_shape, c.num_classes, c.params) for c in costs] == [
        ((1, 28, 28), 10, small.params),
        ((3, 32, 32), 100, large.params),
    ]
    assert store.get_cost(h, (3, 32, 32), 100) == costs[1]
    assert store.get_cost(h, (3, 64, 64), 100) is None
    rec = store.get_search("c100")
    assert (rec.input_shape, rec.num_classes) == ((3, 32, 32), 100)


def test_add_cost_set_search_shape_and_fallback(store, new_search, new_arch):
    new_search("a")
    arch = new_arch(params=1000, flops=50)
    _complete(store, "a", 0, arch.hash)
    # no shape recorded: the architecture's own columns
    assert store.leaderboard("a")[0].params == 1000
    assert store.architectures_without_cost("a") == []
    store.set_search_shape("a", (3, 32, 32), 10)
    store.set_search_shape("a", [3, 32, 32], 10)  # the same again: fine (a resumed search)
    with pytest.raises(ValueError, match="1x28x28"):
        store.set_search_shape("a", (1, 28, 28), 10)
    assert [a.hash for a in store.architectures_without_cost("a")] == [arch.hash]
    assert store.leaderboard("a")[0].params == 1000  # still the fallback
    rec = store.add_cost(arch.hash, (3, 32, 32), 10, 1234, 99)
    assert (rec.arch_hash, rec.params, rec.flops) == (arch.hash, 1234, 99)
    assert store.add_cost(arch.hash, (3, 32, 32), 10, 1, 1) == rec  # first write wins
    assert store.architectures_without_cost("a") == []
    row = store.leaderboard("a", sort="params")[0]
    assert (row.params, row.flops) == (1234, 99)
    assert store.get_architecture(arch.hash).params == 1000

    with pytest.raises(db.NotFoundError):
        store.add_cost("f" * 64, (3, 32, 32), 10, 1, 1)
    with pytest.raises(db.NotFoundError):
        store.set_search_shape("nope", (3, 32, 32), 10)
    for shape, classes in [((3, 32), 10), ((3, 0, 32), 10), ((3, 32, 32), 0), ("3x32x32", 10), ((3, 32.0, 32), 10)]:
        with pytest.raises(ValueError):
            store.add_cost(arch.hash, shape, classes, 1, 1)
    with pytest.raises(ValueError, match="together"):
        store.upsert_architecture(arch.hash, "{}", 1, 1, {}, input_shape=(3, 32, 32))
    made = new_search("b", input_shape=(1, 8, 8), num_classes=2)
    assert (made.input_shape, made.num_classes) == ((1, 8, 8), 2)


def test_foreign_duplicate_rows_use_their_own_searchs_cost(store, new_search, new_arch):
    new_search("a", input_shape=(1, 28, 28), num_classes=10)
    new_search("b", input_shape=(3, 32, 32), num_classes=10)
    arch = new_arch(params=100, flops=10)
    store.add_cost(arch.hash, (1, 28, 28), 10, 100, 10)
    store.add_cost(arch.hash, (3, 32, 32), 10, 300, 30)
    original = _complete(store, "a", 0, arch.hash, 0.8)
    store.record_trial("b", 0, arch.hash, KEY, "duplicate", duplicate_of=original)
    (row,) = store.leaderboard("b")
    assert (row.state, row.params, row.flops) == ("duplicate", 300, 30)
    assert store.leaderboard("a")[0].params == 100


def test_deleting_an_architecture_deletes_its_costs(store, raw_engine, new_arch):
    arch = new_arch()
    store.add_cost(arch.hash, (1, 28, 28), 10, 1, 1)
    with store.engine.begin() as conn:  # the Store's engine: foreign keys on, on SQLite too
        conn.execute(sa.text("DELETE FROM nas_architectures"))
    with raw_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM nas_architecture_costs")).scalar() == 0


# --- revision 0002 ----------------------------------------------------------------------------


def _safetensors_header(tensors: dict[str, list[int]], meta: dict[str, str] | None = None) -> bytes:
    """Bytes shaped like a safetensors file (float32 zeros): enough for the migration's reading."""
    header: dict = {"__metadata__": meta or {}}
    offset = 0
    for name, shape in tensors.items():
        size = 4 * shape[0] * (shape[1] if len(shape) > 1 else 1)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + bytes(offset)


def _at_0001(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    return engine


def test_upgrade_from_0001_backfills_costs_where_known(url):
    engine = _at_0001(url)
    now = "2025-11-30 12:00:00"
    searches = [  # id, name, dataset, config
        (1, "fm", "fashion-mnist", {}),
        (2, "cifar-big", "cifar-10", {"image_size": 64}),
        (3, "folder", "imagefolder:/data/x", {}),  # shape from its stored weights
        (4, "blind", "npz:/data/y.npz", {}),  # nothing tells its shape
    ]
    archs = {  # id: (params, flops) as the old code stored them: for the first search's shape
        1: (100, 10),  # first in fm, then in cifar-big
        2: (200, 20),  # first in cifar-big
        3: (300, 30),  # first in folder
        4: (400, 40),  # first in blind, then in fm
    }
    trials = [  # id, search, number, arch
        (1, 1, 0, 1),
        (2, 2, 0, 1),
        (3, 2, 1, 2),
        (4, 3, 0, 3),
        (5, 4, 0, 4),
        (6, 1, 1, 4),
        (7, 4, 1, None),  # infeasible samples may have no architecture... still fine
    ]
    weights = _safetensors_header({"stem.0.weight": [16, 27], "head.2.weight": [7, 16], "head.2.bias": [7]})
    with engine.begin() as conn:
        for sid, name, dataset, config in searches:
            conn.execute(
                sa.text(
                    "INSERT INTO nas_searches (id, name, space, space_options, dataset, train_config, objectives, "
                    "config, created_at, updated_at, status, code_version, optuna_study_name) VALUES (:id, :name, "
                    "'skipdag', '{}', :dataset, '{}', '[\"val_accuracy\"]', :config, :now, :now, 'finished', 'old', "
                    ":study)"
                ),
                dict(id=sid, name=name, dataset=dataset, config=json.dumps(config), now=now, study=f"nas:{name}"),
            )
        for aid, (params, flops) in archs.items():
            conn.execute(
                sa.text(
                    "INSERT INTO nas_architectures (id, hash, canonical_json, params, flops, summary, created_at) "
                    "VALUES (:id, :hash, '{}', :params, :flops, '{}', :now)"
                ),
                dict(id=aid, hash=f"{aid:064x}", params=params, flops=flops, now=now),
            )
        for tid, sid, number, aid in trials:
            conn.execute(
                sa.text(
                    "INSERT INTO nas_trials (id, search_id, optuna_number, architecture_id, state, train_config_key, "
                    "val_accuracy, test_seeds, started_at) VALUES (:id, :sid, :n, :aid, 'complete', 'k', :val, 0, :now)"
                ),
                dict(id=tid, sid=sid, n=number, aid=aid, val=0.5 + tid / 100, now=now),
            )
        conn.execute(
            sa.text(
                "INSERT INTO nas_artifacts (trial_id, kind, format, data, sha256, created_at, meta) "
                "VALUES (4, 'weights', 'safetensors', :data, 'x', :now, :meta)"
            ),
            dict(data=weights, now=now, meta=json.dumps({"shape": [3, 48, 48], "mean": [0.5] * 3, "std": [0.2] * 3})),
        )
    engine.dispose()

    with db.connect(url) as store:  # upgrades 0001 -> head
        shapes = {
            n: (store.get_search(n).input_shape, store.get_search(n).num_classes)
            for n in ("fm", "cifar-big", "folder", "blind")
        }
        assert shapes == {
            "fm": ((1, 28, 28), 10),
            "cifar-big": ((3, 64, 64), 10),
            "folder": ((3, 48, 48), 7),
            "blind": (None, None),
        }
        got = {
            aid: [(c.input_shape, c.num_classes, c.params, c.flops) for c in store.costs(f"{aid:064x}")]
            for aid in archs
        }
        assert got == {
            1: [((1, 28, 28), 10, 100, 10)],
            2: [((3, 64, 64), 10, 200, 20)],
            3: [((3, 48, 48), 7, 300, 30)],
            4: [],  # first sampled by a search whose shape is unknown
        }
        # the leaderboards: backfilled costs where known, the architecture's columns elsewhere
        assert {r.hash[-1]: r.params for r in store.leaderboard("fm")} == {"1": 100, "4": 400}
        assert {r.hash[-1]: r.params for r in store.leaderboard("cifar-big")} == {"1": 100, "2": 200}
        assert [a.hash[-1] for a in store.architectures_without_cost("cifar-big")] == ["1"]
        assert [a.hash[-1] for a in store.architectures_without_cost("fm")] == ["4"]
        # the driver (or anyone) fills a missing one: that search's leaderboard changes, only
        store.add_cost(f"{1:064x}", (3, 64, 64), 10, 150, 15)
        assert {r.hash[-1]: r.params for r in store.leaderboard("cifar-big")} == {"1": 150, "2": 200}
        assert {r.hash[-1]: r.params for r in store.leaderboard("fm")} == {"1": 100, "4": 400}
        assert len(store.trials("blind")) == 2 and len(store.trials("fm")) == 2  # nothing lost

        # and back down to 0001 on the Store's own engine (SQLite: foreign keys on): trials stay
        cfg = alembic_config()
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM nas_trials")).scalar() == len(trials)
            assert "nas_architecture_costs" not in sa.inspect(conn).get_table_names()
            assert "num_classes" not in {c["name"] for c in sa.inspect(conn).get_columns("nas_searches")}
