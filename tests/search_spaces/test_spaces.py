"""Contract tests run against every registered search space (a new space is covered here)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Literal

import pytest
import torch

import search_spaces
from nas.ir import OP_KINDS, OP_TABLE, build, cost, parse_op
from search_spaces import SpaceConfigError
from tests.helpers import sample_archs

SHAPES = [(1, 28, 28), (3, 32, 32)]
#: The spaces the product ships: test suites register test-only spaces of their own (e.g.
#: tests/faults/spaces.py), before or after this module is collected depending on the order.
BUILT_IN = [n for n in search_spaces.names() if search_spaces.space_class(n).__module__.startswith("search_spaces.")]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Many tiny forward/backward passes (batches of 2): with two threads they spend their time
    in thread hand-offs (743 s against 74 s for the skipdag samples on 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=BUILT_IN)
def samples(request):
    space = search_spaces.get(request.param)
    return sample_archs(space, 300, "random", seed=1) + sample_archs(space, 100, "tpe", seed=2)


def test_every_sample_validates_builds_and_trains_one_step(samples):
    torch.manual_seed(0)
    # a dense space's encoder-decoders cost several times a classifier's to run: every 4th sample
    for arch in samples[::4] if samples[0].dense else samples:
        arch.validate()
        for shape in SHAPES:
            model = build(arch, shape, num_classes=10)
            x = torch.randn(2, *shape)
            y = model(x)
            assert y.shape == ((2, 10, *shape[1:]) if arch.dense else (2, 10))  # dense: per-pixel logits
            assert torch.isfinite(y).all(), arch.to_json()
            y.square().mean().backward()
            grads = [p.grad for p in model.parameters()]
            assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_cost_matches_torch_parameter_count(samples):
    for arch in samples[:60]:
        for shape in SHAPES:
            model = build(arch, shape, num_classes=10)
            assert cost(arch, shape, 10).params == sum(p.numel() for p in model.parameters())


def test_samples_cover_every_op_kind_merge_and_long_skip(samples, request):
    space = search_spaces.get(request.node.callspec.params["samples"])
    offered = {OP_TABLE[op][0] for op in space.options.ops}
    kinds, merges, long_skips = set(), set(), 0
    for arch in samples:
        for n in arch.nodes:
            kinds.add(parse_op(n.op).kind)
            if len(n.inputs) > 1:
                merges.add(n.merge)
        long_skips += arch.summary()["long_skips"] or (arch.dense and _encoder_decoder_skips(arch))
    assert offered <= kinds <= set(OP_KINDS) | {"input", "image", "output", "pixels"}
    assert merges == {"add", "concat"}
    assert long_skips > 0


def _encoder_decoder_skips(arch) -> int:
    """Skips of a dense network that pass by a deeper stage (U-Net's encoder-to-decoder skips,
    which `Arch.summary` does not count as long: both ends are at one stage)."""
    from nas.viz.draw import skip_edges

    order = arch.topological_order()
    pos = {i: k for k, i in enumerate(order)}
    return sum(
        any(arch.nodes[m].stage > arch.nodes[d].stage for m in order[pos[j] : pos[d]]) for j, d in skip_edges(arch)
    )


@pytest.mark.parametrize("name", BUILT_IN)
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


@pytest.mark.parametrize("name", BUILT_IN)
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
    with pytest.raises(SpaceConfigError, match=r"option ops\[0\] = 'conv7x7' is not allowed; ops must be .*conv3x3"):
        search_spaces.get("skipdag", ops=["conv7x7"])
    with pytest.raises(SpaceConfigError, match="'depth'"):
        search_spaces.get("skipdag", depth=[3, 1])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"widths": [[2**32]]}, r"option widths\[0\]\[0\] = 4294967296 is out of range; .*8192 \(MAX_WIDTH\)"),
        ({"widths": [[16, 0]]}, r"option widths\[0\]\[1\] = 0 is out of range"),
        ({"widths": [[16]] * 17}, r"option widths has 17 items, more than 16; .*MAX_STAGES"),
        ({"widths": [[]]}, r"option widths\[0\] has 0 items, fewer than 1"),
        ({"widths": [[16.0]]}, r"option widths\[0\]\[0\] = 16.0 has the wrong type \(float\)"),
        ({"depth": [1, 10**6]}, r"option depth\[1\] = 1000000 is out of range; .*256 \(MAX_DEPTH\)"),
        ({"depth": [1]}, r"option depth has 1 item, fewer than 2"),
        ({"max_skips": 256}, r"option max_skips = 256 is out of range; .*255"),
        ({"long_skips": "yes"}, r"option long_skips = 'yes' has the wrong type \(str\); long_skips must be true"),
        ({"merges": ["mul"]}, r"option merges\[0\] = 'mul' is not allowed"),
        ({"groups": [2, 10**9]}, r"option groups\[1\] = 1000000000 is out of range"),
        ({"widths": [[16]] * 16, "depth": [1, 256]}, r"allow 4098 nodes, more than 4096 \(MAX_NODES\)"),
        ({"ops": ["gconv3x3"], "groups": []}, r"'groups' must name at least one group count"),
    ],
)
def test_options_are_bounded_and_typed_by_the_schema(options, message):
    with pytest.raises(SpaceConfigError, match=message) as e:
        search_spaces.get("skipdag", **options)
    assert "\n" not in str(e.value)


def test_largest_allowed_space_samples_a_valid_arch():
    from nas.ir.limits import MAX_DEPTH, MAX_NODES, MAX_WIDTH

    stages = (MAX_NODES - 2) // MAX_DEPTH
    space = search_spaces.get(
        "skipdag", widths=[[MAX_WIDTH]] * stages, depth=[MAX_DEPTH, MAX_DEPTH], ops=["conv1x1"], max_skips=0
    )
    arch = sample_archs(space, 1)[0]
    assert len(arch.nodes) == 2 + stages * MAX_DEPTH <= MAX_NODES
    assert len(arch.hash()) == 64


def test_options_accept_lists_or_tuples_and_come_back_frozen():
    space = search_spaces.get("skipdag", widths=([8, 16], (16,)), depth=(1, 2))
    assert space.options.widths == ((8, 16), (16,)) and space.options.depth == (1, 2)
    assert search_spaces.get("skipdag", **space.options_dict()).options == space.options


def test_a_space_without_a_schema_gets_one_from_its_option_types():
    from dataclasses import dataclass

    from search_spaces.schema import validate_options

    @dataclass(frozen=True)
    class Opts:
        width: int = 8
        rate: float = 0.5
        name: str = "x"
        flag: bool = False
        sizes: tuple[int, ...] = (1, 2)
        mode: Literal["a", "b"] = "a"
        limit: int | None = None

    class Plain(search_spaces.SearchSpace):
        name = "plain"
        Options = Opts

        def sample(self, trial):  # pragma: no cover - never sampled
            raise NotImplementedError

    assert Plain(width=16, rate=1, sizes=[3], mode="b", limit=4).options == Opts(16, 1.0, "x", False, (3,), "b", 4)
    for bad, message in (
        ({"width": "16"}, r"option width = '16' has the wrong type \(str\); width must look like 8"),
        ({"flag": 1}, r"option flag = 1 has the wrong type"),
        ({"sizes": [1, "2"]}, r"option sizes\[1\] = '2' has the wrong type"),
        ({"mode": "c"}, r"option mode = 'c' is not allowed"),
        ({"colour": 1}, r"unknown option 'colour' for search space 'plain'; valid options: width, rate"),
    ):
        with pytest.raises(SpaceConfigError, match=message):
            validate_options(Plain, bad)


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
    (tmp_path / "huge.toml").write_text("# padding\n" * 200_000)
    with pytest.raises(SpaceConfigError, match=r"2,000,000 bytes, over the limit of 1,048,576 \(MAX_OPTIONS_BYTES"):
        search_spaces.get("skipdag", config_file=str(tmp_path / "huge.toml"))
    with pytest.raises(SpaceConfigError, match="is a directory"):
        search_spaces.get("skipdag", config_file=str(tmp_path))


def test_yaml_aliases_cannot_blow_up_the_check(tmp_path):
    """A YAML 'billion laughs' file: references nest, the schema's list bounds stop the walk."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("widths: *a8")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(SpaceConfigError, match="unknown option 'a0'|widths"):
        search_spaces.get("skipdag", config_file=str(tmp_path / "bomb.yaml"))


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
