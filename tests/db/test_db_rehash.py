"""Revision 0004: every stored architecture rehashed for IR v2, rows of one network merged.

A database at revision 0003 is built with Alembic's own command and filled as the old code left
it: canonical JSON in the IR v1 canonical form under IR v1 hashes (`OLD`), trials, costs, an
evaluation, Optuna trials with their "arch_hash" user attribute. `db.connect` then upgrades it.
Runs on every backend (`url` fixture); the resumed-search check runs the driver on SQLite.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import optuna
import sqlalchemy as sa
from alembic import command

import db
import search_spaces
from db._schema import alembic_config
from db._version import HEAD
from nas.ir import Arch

KEY = "cfg-key"
NOW = "2026-12-01 12:00:00"


def _n(op: str, inputs: tuple[int, ...] = (), merge: str | None = None, stage: int = 0, width: int = 8) -> dict:
    return {"op": op, "merge": merge, "inputs": list(inputs), "stage": stage, "width": width}


# The architectures as the IR v1 code stored them: its canonical form (node order, "nas.arch/1")
# and its hash. Computed once with the IR of commit 1a04837 (the last before IR v2), e.g.
#   git archive 1a04837 nas/ir nas/__init__.py nas/version.py | tar -x -C /tmp/old
#   PYTHONPATH=/tmp/old python -c 'from nas.ir import Arch; a = Arch.from_dict(d).canonical(); print(a.hash())'
# taking the hashes in this order, with the driver's collision rule (none was needed: IR v1
# gives W0 and W1 different hashes).
OLD: dict[str, tuple[str, list[dict]]] = {
    # conv(identity(add(a, b))): IR v2 folds the merge-only identity, so this is B
    "A": (
        "b01b448eddd6726b9d85a6865ab67356591e7708f20b70f2218ac61369f13c59",
        [
            _n("input"),
            _n("conv5x5", (0,)),
            _n("conv3x3", (0,)),
            _n("identity", (1, 2), "add"),
            _n("conv3x3", (3,)),
            _n("output", (4,)),
        ],
    ),
    # conv(add(a, b)): the same hash under both IRs
    "B": (
        "4812c443b8dedb2b57b492edc49374dee88dc03c2a74a8f61869c4d8c896f8ef",
        [_n("input"), _n("conv3x3", (0,)), _n("conv5x5", (0,)), _n("conv3x3", (1, 2), "add"), _n("output", (3,))],
    ),
    # a chain: same hash, but the canonical JSON changes ("nas.arch/2")
    "C": (
        "052edd952e9728a11328d55a15992c5318efe4cd51f4117a0b6410f356753635",
        [_n("input"), _n("conv3x3", (0,)), _n("output", (1,))],
    ),
    # conv1x1(identity(concat(a, b))): a new hash, no other row to merge with
    "D": (
        "615e445776dd3139ddefeb778f1306a971e3dc91a73f93f9f6d24a84969b2eb6",
        [
            _n("input"),
            _n("maxpool3x3", (0,)),
            _n("conv3x3", (0,)),
            _n("identity", (1, 2), "concat", 0, 16),
            _n("conv1x1", (3,), None, 1, 16),
            _n("output", (4,), None, 1, 16),
        ],
    ),
    # two different networks that IR v2's hash does not tell apart (IR v1's did): stay two rows
    "W0": (
        "f7563ac641c3d470174b10df24e634a1361a5d3e595a416f820c8d38c4231838",
        [
            _n("input"),
            _n("conv3x3", (0,)),
            _n("conv3x3", (0,)),
            _n("conv3x3", (0, 1), "add"),
            _n("conv3x3", (0, 1, 3), "add"),
            _n("conv3x3", (0, 2), "add"),
            _n("conv3x3", (0, 2, 5), "add"),
            _n("output", (4, 6), "add"),
        ],
    ),
    "W1": (
        "4e87bd571ce12f6986d3ab058e8e878639ed00e9754ebdfcc95bc0a441a3976d",
        [
            _n("input"),
            _n("conv3x3", (0,)),
            _n("conv3x3", (0,)),
            _n("conv3x3", (0, 1), "add"),
            _n("conv3x3", (0, 2, 3), "add"),
            _n("conv3x3", (0, 2), "add"),
            _n("conv3x3", (0, 1, 5), "add"),
            _n("output", (4, 6), "add"),
        ],
    ),
}
BAD = ("e" * 64, '{"nodes": 7}')  # a row no IR can read: left exactly as it is


def _old_json(name: str) -> str:
    """The row's canonical_json as the old Store got it (`Arch.to_json()`: json.dumps of the dict)."""
    return json.dumps({"schema": "nas.arch/1", "nodes": OLD[name][1]})


def _arch(name: str) -> Arch:
    return Arch.from_json(_old_json(name))


ARCH_IDS = {"A": 1, "B": 2, "C": 3, "D": 4, "W0": 5, "W1": 6, "BAD": 7}
# id, optuna number, architecture, state, val_accuracy, duplicate_of
TRIALS = [
    (1, 0, "A", "complete", 0.70, None),
    (2, 1, "B", "complete", 0.80, None),
    (3, 2, "C", "complete", 0.60, None),
    (4, 3, "D", "complete", 0.65, None),
    (5, 4, "W0", "complete", 0.50, None),
    (6, 5, "W1", "complete", 0.55, None),
    (7, 6, "BAD", "complete", 0.10, None),
    (8, 7, "B", "duplicate", 0.80, 2),
    (9, 8, None, "infeasible", None, None),
]
# architecture, (C, H, W, classes), params
COSTS = [
    ("A", (1, 28, 28, 10), 100),
    ("B", (1, 28, 28, 10), 999),  # A has this shape: dropped (the kept row's cost wins)
    ("B", (3, 32, 32, 10), 300),  # A lacks it: moves to A
    ("D", (1, 28, 28, 10), 400),
]
EVALUATIONS = [("B", 0, 0.81), ("D", 0, 0.66)]  # architecture, seed, test accuracy
TABLES = ("nas_architectures", "nas_architecture_costs", "nas_trials", "nas_evaluations", "trial_user_attributes")


def _kept(name: str) -> int:
    """The id of the row that holds architecture `name` after the upgrade (B merges into A)."""
    return ARCH_IDS["A" if name == "B" else name]


def _old_hash(name: str) -> str:
    return BAD[0] if name == "BAD" else OLD[name][0]


def _insert_search(conn: sa.Connection) -> None:
    """Search 'old' (id 1), as a finished search of the old code."""
    conn.execute(
        sa.text(
            "INSERT INTO nas_searches (id, name, space, space_options, dataset, train_config, objectives, "
            "config, created_at, updated_at, status, code_version, optuna_study_name, input_channels, "
            "input_height, input_width, num_classes) VALUES (1, 'old', 'skipdag', '{}', 'synthetic', '{}', "
            "'[\"val_accuracy:maximize\"]', '{}', :now, :now, 'finished', 'old', 'nas:old', 1, 28, 28, 10)"
        ),
        {"now": NOW},
    )


def _build_0003(url: str, key: str = KEY) -> None:
    """A database at revision 0003 holding the rows above, and Optuna's study of search 'old'."""
    engine = sa.create_engine(url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
        with engine.begin() as conn:
            _insert_search(conn)
            for name, aid in ARCH_IDS.items():
                text = BAD[1] if name == "BAD" else _old_json(name)
                conn.execute(
                    sa.text(
                        "INSERT INTO nas_architectures (id, hash, canonical_json, params, flops, summary, created_at) "
                        "VALUES (:id, :hash, :text, :params, :flops, '{\"old\": 1}', :now)"
                    ),
                    dict(id=aid, hash=_old_hash(name), text=text, params=aid * 100, flops=aid * 10, now=NOW),
                )
            for tid, number, name, state, val, dup in TRIALS:
                conn.execute(
                    sa.text(
                        "INSERT INTO nas_trials (id, search_id, optuna_number, architecture_id, state, "
                        "train_config_key, val_accuracy, test_seeds, started_at, duplicate_of) "
                        "VALUES (:id, 1, :n, :aid, :state, :key, :val, 0, :now, :dup)"
                    ),
                    dict(
                        id=tid, n=number, aid=name and ARCH_IDS[name], state=state, key=key, val=val, now=NOW, dup=dup
                    ),
                )
            for name, (c, h, w, classes), params in COSTS:
                conn.execute(
                    sa.text(
                        "INSERT INTO nas_architecture_costs (architecture_id, channels, height, width, num_classes, "
                        "params, flops, created_at) VALUES (:aid, :c, :h, :w, :k, :p, :p, :now)"
                    ),
                    dict(aid=ARCH_IDS[name], c=c, h=h, w=w, k=classes, p=params, now=NOW),
                )
            for name, seed, acc in EVALUATIONS:
                conn.execute(
                    sa.text(
                        "INSERT INTO nas_evaluations (architecture_id, search_id, seed, test_accuracy, epochs, "
                        "train_config, created_at) VALUES (:aid, 1, :seed, :acc, 3, '{}', :now)"
                    ),
                    dict(aid=ARCH_IDS[name], seed=seed, acc=acc, now=NOW),
                )
    finally:
        engine.dispose()
    storage = optuna.storages.RDBStorage(url)
    try:
        study = optuna.create_study(storage=storage, study_name="nas:old", direction="maximize")
        for _, number, name, _, val, _ in TRIALS:
            trial = study.ask()
            assert trial.number == number
            if name is not None:
                trial.set_user_attr("arch_hash", _old_hash(name))
            trial.set_user_attr("seed", number)
            study.tell(trial, val if val is not None else 0.0)
    finally:
        storage.engine.dispose()


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def _snapshot(engine: sa.Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            t: sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))) for t in (*TABLES, "nas_searches")
        }


def test_upgrade_rehashes_merges_and_keeps_everything_else(url, raw_engine):
    _build_0003(url)
    before = _counts(raw_engine)
    new = {name: _arch(name).hash() for name in OLD}
    # what changed between the IRs, as this test relies on it
    assert new["A"] == new["B"] == OLD["B"][0] != OLD["A"][0]
    assert new["C"] == OLD["C"][0] and new["D"] != OLD["D"][0]
    assert new["W0"] == new["W1"] and not _arch("W0").isomorphic(_arch("W1"))
    w1_key = hashlib.sha256(f"{new['W0']}:collision".encode()).hexdigest()  # as the driver's Search._identity

    db.connect(url).close()  # upgrades 0003 -> head

    with raw_engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {db.VERSION_TABLE}")).scalar_one() == HEAD
        rows = {
            r.id: r for r in conn.execute(sa.text("SELECT id, hash, canonical_json, summary FROM nas_architectures"))
        }
        trial_arch = dict(conn.execute(sa.text("SELECT id, architecture_id FROM nas_trials")).all())
        eval_arch = sorted(conn.execute(sa.text("SELECT seed, architecture_id, test_accuracy FROM nas_evaluations")))
        attrs = dict(
            conn.execute(
                sa.text(
                    "SELECT t.number, a.value_json FROM trial_user_attributes a JOIN trials t "
                    "ON a.trial_id = t.trial_id WHERE a.key = 'arch_hash'"
                )
            ).all()
        )
        seeds = dict(
            conn.execute(
                sa.text(
                    "SELECT t.number, a.value_json FROM trial_user_attributes a JOIN trials t "
                    "ON a.trial_id = t.trial_id WHERE a.key = 'seed'"
                )
            ).all()
        )

    # the newer row of the one network (B) is gone; every other row is kept, under its id
    a, c, d, w0, w1, bad = (ARCH_IDS[k] for k in ("A", "C", "D", "W0", "W1", "BAD"))
    assert sorted(rows) == [a, c, d, w0, w1, bad]
    expected = {a: new["A"], c: new["C"], d: new["D"], w0: new["W0"], w1: w1_key, bad: BAD[0]}
    assert {i: r.hash for i, r in rows.items()} == expected
    for i, r in rows.items():  # each readable row is what the driver would store today
        if i == bad:
            assert r.canonical_json == BAD[1] and r.summary == '{"old": 1}'
            continue
        arch = Arch.from_json(r.canonical_json)
        assert r.canonical_json == arch.canonical().to_json() and json.loads(r.canonical_json)["schema"] == "nas.arch/2"
        assert r.summary == json.dumps(arch.canonical().summary(), sort_keys=True)
        assert arch.hash() == new[next(k for k, v in ARCH_IDS.items() if v == i)]
    assert Arch.from_json(rows[w1].canonical_json).isomorphic(_arch("W1"))  # the collision kept its own graph

    # trials and evaluations of B point at A; nothing lost
    assert trial_arch == {tid: name and _kept(name) for tid, _, name, *_ in TRIALS}
    assert eval_arch == [(0, a, 0.81), (0, d, 0.66)]
    after = _counts(raw_engine)
    assert after == {
        **before,
        "nas_architectures": before["nas_architectures"] - 1,
        "nas_architecture_costs": before["nas_architecture_costs"] - 1,
    }
    # Optuna's attribute follows its architecture's new hash; other attributes are untouched
    assert attrs == {number: json.dumps(expected[_kept(name)]) for _, number, name, *_ in TRIALS if name}
    assert seeds == {number: json.dumps(number) for _, number, *_ in TRIALS}

    # the Store finds everything by the new hashes, and nothing by the old ones that changed
    with db.connect(url, read_only=True) as reader:
        merged = reader.get_architecture(new["A"])
        assert merged is not None and merged.params == 100  # the older row's own columns
        assert reader.get_architecture(OLD["A"][0]) is None and reader.get_architecture(OLD["D"][0]) is None
        assert reader.get_architecture(w1_key).hash == w1_key
        assert [(c.input_shape, c.num_classes, c.params) for c in reader.costs(new["A"])] == [
            ((1, 28, 28), 10, 100),
            ((3, 32, 32), 10, 300),
        ]
        assert [e.seed for e in reader.evaluations(new["A"])] == [0]
        best = reader.find_completed(new["A"], KEY)  # the resumed driver's dedupe lookup
        assert best is not None and best.optuna_number == 1 and best.arch_hash == new["A"]
        assert reader.find_completed(new["D"], KEY).optuna_number == 3
        assert reader.find_completed(w1_key, KEY).optuna_number == 5
        by_number = {t.optuna_number: t.arch_hash for t in reader.trials("old")}
        assert by_number[7] == by_number[0] == new["A"] and by_number[8] is None


def test_downgrade_is_a_no_op_and_upgrading_again_changes_nothing(url, raw_engine):
    _build_0003(url)
    store = db.connect(url)
    try:
        once = _snapshot(raw_engine)
        cfg = alembic_config()
        with store.engine.begin() as conn:  # SQLite: foreign keys on, as in a real connect
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
        assert _snapshot(raw_engine) == once
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        assert _snapshot(raw_engine) == once
    finally:
        store.close()


def test_an_empty_database_upgrades(url, raw_engine):
    engine = sa.create_engine(url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    engine.dispose()
    db.connect(url).close()  # no rows, no Optuna tables: nothing to rehash
    with raw_engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {db.VERSION_TABLE}")).scalar_one() == HEAD


def test_a_search_resumed_after_the_upgrade_reuses_the_stored_results(tmp_path):
    """The driver, after the upgrade, samples three stored networks (written in IR v2 form or
    as the old rows were): each is recognised as already trained, none is trained again."""
    from nas.search.config import SearchConfig
    from nas.search.driver import run_search
    from search_spaces.skipdag import SkipDAG

    samples = [_arch("D"), _arch("A"), _arch("W1")]

    class Stored(SkipDAG):
        name = "rehash-test"

        def sample(self, trial):
            trial.suggest_int("i", 0, 0)
            return samples[trial.number % len(samples)]

    url = f"sqlite:///{tmp_path / 'nas.db'}"
    cfg = SearchConfig(
        name="new",
        db=url,
        dataset="synthetic",
        subset=64,
        trials=3,
        executor="local",
        sampler="random",
        pruner="none",
        train={"epochs": 1, "batch_size": 32},
        space="rehash-test",
        space_options={"widths": [[8]]},
    )
    _build_0003(url, key=cfg.train_config_key())  # the same training protocol: results reusable
    search_spaces.register(Stored)
    try:
        run_search(cfg)
    finally:
        search_spaces.unregister("rehash-test")
    with db.connect(url, read_only=True) as store:
        got = [(t.state, t.duplicate_of, t.arch_hash) for t in store.trials("new")]
        assert got == [
            ("duplicate", 4, _arch("D").hash()),
            ("duplicate", 2, _arch("B").hash()),  # A is B; B's trial has the better result
            ("duplicate", 6, hashlib.sha256(f"{_arch('W1').hash()}:collision".encode()).hexdigest()),
        ]
        assert all(not store.epochs(t.id) for t in store.trials("new"))  # nothing trained
    engine = sa.create_engine(url)
    try:
        assert _counts(engine)["nas_architectures"] == len(ARCH_IDS) - 1  # no new row for a known network
    finally:
        engine.dispose()


# ---- revision 0005: an identity kept for a repeated input is private to its reader ------------
def _g(*nodes: tuple) -> list[dict]:
    return [_n(op, inputs, merge) for op, inputs, merge in nodes]


#: One network listed two ways: x = conv(input); the output adds conv(x + x) (the second x
#: through two identities) and conv(x) (read through the first of them). Revision 0004's IR gave
#: the two listings two canonical forms and hashes (computed with commit 3554fdf, as `OLD` above),
#: because the identity it kept for the repeat was shared with the other conv or not, by listing.
LISTED_TWICE = {
    "P": (
        "8b1bc3a6d483b50e605b5ebb17091b5920764c09b76d997fca9aff55a2b25d00",
        _g(
            ("input", (), None),
            ("conv3x3", (0,), None),
            ("identity", (1,), None),
            ("conv3x3", (1,), None),
            ("conv3x3", (1, 2), "add"),
            ("output", (3, 4), "add"),
        ),
    ),
    "Q": (
        "d3cc6289d63d95b8ee42a8fa5a5a9b8a5be3549e5becce904edf3b359774ad21",
        _g(
            ("input", (), None),
            ("conv3x3", (0,), None),
            ("identity", (1,), None),
            ("conv3x3", (1, 2), "add"),
            ("conv3x3", (2,), None),
            ("output", (3, 4), "add"),
        ),
    ),
}


def test_0005_merges_the_listings_of_one_network_that_0004_hashed_apart(url, raw_engine):
    engine = sa.create_engine(url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
            _insert_search(conn)
            for aid, (old_hash, nodes) in enumerate(LISTED_TWICE.values(), start=1):
                conn.execute(
                    sa.text(
                        "INSERT INTO nas_architectures (id, hash, canonical_json, params, flops, summary, created_at) "
                        "VALUES (:id, :hash, :text, 1, 1, '{}', :now)"
                    ),
                    dict(id=aid, hash=old_hash, text=json.dumps({"schema": "nas.arch/2", "nodes": nodes}), now=NOW),
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO nas_trials (id, search_id, optuna_number, architecture_id, state, "
                        "train_config_key, val_accuracy, test_seeds, started_at) "
                        "VALUES (:id, 1, :n, :id, 'complete', :key, :val, 0, :now)"
                    ),
                    dict(id=aid, n=aid - 1, key=KEY, val=0.5 + aid / 10, now=NOW),
                )
    finally:
        engine.dispose()
    storage = optuna.storages.RDBStorage(url)
    try:
        study = optuna.create_study(storage=storage, study_name="nas:old", direction="maximize")
        for old_hash, _ in LISTED_TWICE.values():
            trial = study.ask()
            trial.set_user_attr("arch_hash", old_hash)
            study.tell(trial, 0.5)
    finally:
        storage.engine.dispose()
    p, q = (Arch.from_json(json.dumps({"schema": "nas.arch/2", "nodes": n})) for _, n in LISTED_TWICE.values())
    assert p.hash() == q.hash() == LISTED_TWICE["P"][0] and p.isomorphic(q)  # one network, one hash now

    db.connect(url).close()  # upgrades 0004 -> head

    with raw_engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {db.VERSION_TABLE}")).scalar_one() == HEAD
        rows = conn.execute(sa.text("SELECT id, hash FROM nas_architectures")).all()
        trial_arch = dict(conn.execute(sa.text("SELECT id, architecture_id FROM nas_trials")).all())
        attrs = [
            json.loads(v)
            for (v,) in conn.execute(sa.text("SELECT value_json FROM trial_user_attributes WHERE key = 'arch_hash'"))
        ]
    assert [tuple(r) for r in rows] == [(1, p.hash())]  # the older row kept; Q's folded into it
    assert trial_arch == {1: 1, 2: 1}  # both trials kept, on the one network
    assert attrs == [p.hash(), p.hash()]
    with db.connect(url, read_only=True) as reader:
        assert reader.find_completed(p.hash(), KEY).optuna_number == 1  # the better of the two runs
        assert reader.get_architecture(LISTED_TWICE["Q"][0]) is None
