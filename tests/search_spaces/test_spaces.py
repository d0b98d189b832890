"""Contract tests run against every registered search space (a new space is covered here)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import search_spaces
from nas.ir import OP_KINDS, build, cost, parse_op
from search_spaces import SpaceConfigError
from tests.helpers import sample_archs

SHAPES = [(1, 28, 28), (3, 32, 32)]


@pytest.fixture(scope="module", params=search_spaces.names())
def samples(request):
    space = search_spaces.get(request.param)
    return sample_archs(space, 300, "random", seed=1) + sample_archs(space, 100, "tpe", seed=2)


def test_every_sample_validates_builds_and_trains_one_step(samples):
    torch.manual_seed(0)
    for arch in samples:
        arch.validate()
        for shape in SHAPES:
            model = build(arch, shape, num_classes=10)
            x = torch.randn(2, *shape)
            y = model(x)
            assert y.shape == (2, 10)
            assert torch.isfinite(y).all(), arch.to_json()
            y.square().mean().backward()
            grads = [p.grad for p in model.parameters()]
            assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_cost_matches_torch_parameter_count(samples):
    for arch in samples[:60]:
        for shape in SHAPES:
            model = build(arch, shape, num_classes=10)
            assert cost(arch, shape, 10).params == sum(p.numel() for p in model.parameters())


def test_samples_cover_every_op_kind_merge_and_long_skip(samples):
    kinds, merges, long_skips = set(), set(), 0
    for arch in samples:
        for n in arch.nodes:
            kinds.add(parse_op(n.op).kind)
            if len(n.inputs) > 1:
                merges.add(n.merge)
        long_skips += arch.summary()["long_skips"]
    assert set(OP_KINDS) <= kinds
    assert merges == {"add", "concat"}
    assert long_skips > 0


@pytest.mark.parametrize("name", search_spaces.names())
def test_same_decision_same_parameter_name(name):
    """Every parameter name keeps one distribution across trials (TPE/GP can model it)."""
    import optuna

    space = search_spaces.get(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = {}
    for _ in range(200):
        trial = study.ask()
        space.sample(trial)
        for pname, dist in trial.distributions.items():
            assert seen.setdefault(pname, dist) == dist, pname
        study.tell(trial, 0.0)


@pytest.mark.parametrize("name", search_spaces.names())
def test_options_roundtrip_through_options_dict(name):
    space = search_spaces.get(name)
    again = search_spaces.get(name, **space.options_dict())
    assert again.options == space.options


def test_unknown_space_and_option_are_one_line_errors():
    with pytest.raises(SpaceConfigError, match="unknown search space 'nope'.*skipdag"):
        search_spaces.get("nope")
    with pytest.raises(SpaceConfigError, match="unknown option 'widht'"):
        search_spaces.get("skipdag", widht=[[16]])
    with pytest.raises(SpaceConfigError, match="width 18 of stage 0 .* multiples of 4"):
        search_spaces.get("skipdag", widths=[[18]], groups=[2, 4])
    with pytest.raises(SpaceConfigError, match="unknown op 'conv7x7'"):
        search_spaces.get("skipdag", ops=["conv7x7"])
    with pytest.raises(SpaceConfigError, match="'depth'"):
        search_spaces.get("skipdag", depth=[3, 1])


def test_options_from_toml_and_yaml(tmp_path):
    (tmp_path / "s.toml").write_text('widths = [[8, 16], [16, 32]]\ndepth = [1, 2]\nops = ["conv3x3", "gconv3x3"]\n')
    (tmp_path / "s.yaml").write_text("widths: [[8, 16], [16, 32]]\ndepth: [1, 2]\nops: [conv3x3, gconv3x3]\n")
    a = search_spaces.get("skipdag", config_file=str(tmp_path / "s.toml"))
    b = search_spaces.get("skipdag", config_file=str(tmp_path / "s.yaml"))
    assert a.options == b.options
    assert a.options.widths == ((8, 16), (16, 32))
    c = search_spaces.get("skipdag", config_file=str(tmp_path / "s.toml"), depth=[2, 2])
    assert c.options.depth == (2, 2)  # keywords override the file
    arch = sample_archs(a, 1)[0]
    assert {n.stage for n in arch.nodes} == {0, 1}
    (tmp_path / "bad.toml").write_text("widths = [[8,\n")
    with pytest.raises(SpaceConfigError, match="does not parse"):
        search_spaces.get("skipdag", config_file=str(tmp_path / "bad.toml"))


def test_third_party_space_registers_through_entry_point(tmp_path):
    """A plugin distribution on sys.path is discovered via the nas.search_spaces group."""
    (tmp_path / "myspace.py").write_text(
        textwrap.dedent("""
        from dataclasses import dataclass
        from nas.ir import Arch, Node
        from search_spaces import SearchSpace

        @dataclass(frozen=True)
        class Opts:
            width: int = 8

        class Tiny(SearchSpace):
            name = "tiny"
            Options = Opts

            def sample(self, trial):
                op = trial.suggest_categorical("op", ["conv3x3", "identity"])
                w = self.options.width
                return Arch((Node("input", (), None, 0, w), Node(op, (0,), None, 0, w),
                             Node("output", (1,), None, 0, w)))
    """)
    )
    dist = tmp_path / "myspace-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myspace\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[nas.search_spaces]\ntiny = myspace:Tiny\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import search_spaces; from tests.helpers import sample_archs;"
        "assert 'tiny' in search_spaces.names(), search_spaces.names();"
        "print(sample_archs(search_spaces.get('tiny', width=16), 3)[0].nodes[1].width)"
    )
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "16"


def test_graph_packages_never_import_torch():
    code = (
        "import sys, nas, nas.ir.arch, nas.ir.canonical, nas.ir.compile, search_spaces; print('torch' in sys.modules)"
    )
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
