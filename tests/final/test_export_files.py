"""Exports people can use: model.py's CLASSES/MEAN/STD/INPUT_SHAPE/preprocess, hubconf.py for
torch.hub, byte-identical re-exports, ONNX with a dynamic batch axis, and `nas export --arch`.

Everything is real: the CLI is driven in-process through `nas.cli.main`, the exported model.py
is imported in a clean `python -I` with the project's packages blocked, torch.hub loads the
folder, onnxruntime runs the ONNX file.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nas.cli import main
from nas.final.export import canonical_safetensors, export, export_arch, load
from nas.ir import Arch, Node, build
from tests.helpers import run_isolated
from workers.datasets import load_dataset
from workers.datasets._registry import get_spec, known_classes, known_stats

REPO = Path(__file__).resolve().parents[2]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
EXPORT_FILES = ["arch.json", "hubconf.py", "model.py", "weights.safetensors"]


def tiny_arch() -> Arch:
    """Stem, a strided conv, a separable conv and a pool, an add merge with a projection and a
    concat across stages: every kind of code the compiler emits, in a few thousand parameters."""
    return Arch(
        (
            Node("input", (), None, 0, 8),
            Node("conv3x3", (0,), None, 1, 16),
            Node("sepconv3x3", (1,), None, 1, 16),
            Node("maxpool3x3", (0,), None, 0, 8),
            Node("identity", (1, 2, 3), "add", 1, 16),
            Node("output", (4, 3), "concat", 1, 24),
        )
    )


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse's own errors (one line, exit 2)
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def import_model_py(folder: Path):
    """DIR/model.py as a module, in this process (the clean-interpreter check is separate)."""
    name = f"exported_{abs(hash(str(folder))):x}"
    spec = importlib.util.spec_from_file_location(name, folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normalised(x: torch.Tensor, mean, std) -> torch.Tensor:
    """What training feeds the network: `Dataset.to`'s arithmetic."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.to(torch.float32).div_(255.0).sub_(m).div_(s)


@pytest.fixture(scope="module")
def arch_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("arch") / "tiny.json"
    path.write_text(tiny_arch().to_json(indent=2))
    return path


@pytest.fixture(scope="module")
def fashion_export(arch_file, tmp_path_factory) -> Path:
    """`nas export --arch tiny.json --dataset fashion-mnist --onnx` (the registry knows
    Fashion-MNIST's statistics: no image is read)."""
    out = tmp_path_factory.mktemp("exports") / "fashion"
    rc = main(["export", "--arch", str(arch_file), "--out", str(out), "--dataset", "fashion-mnist", "--onnx"])
    assert rc == 0
    return out


# ---- model.py in a clean interpreter -----------------------------------------------------------
STANDALONE = r"""folder, work = sys.argv[1], sys.argv[2]
sys.path.insert(0, folder)
import torch
from safetensors.torch import load_file, save_file
import model
assert "PIL" not in sys.modules, "model.py imported Pillow at import time"
from PIL import Image

inputs = load_file(work + "/inputs.safetensors")
net = model.Net()
net.load_state_dict(load_file(folder + "/weights.safetensors"), strict=True)
net.eval()
grey = Image.frombytes("L", (28, 28), bytes(inputs["hw"].flatten().tolist()))
rgb_big = Image.frombytes("RGB", (40, 30), bytes(inputs["rgb_hwc"].flatten().tolist()))
outputs = {
    "nchw": model.preprocess(inputs["nchw"]),
    "chw": model.preprocess(inputs["nchw"][0]),
    "hw": model.preprocess(inputs["hw"]),
    "pil": model.preprocess(grey),
    "pil_list": model.preprocess([grey, rgb_big]),
}
with torch.no_grad():
    outputs["logits"] = net(outputs["nchw"])
    hub = torch.hub.load(folder, "net", source="local", pretrained=True)
    outputs["hub_logits"] = hub(hub.preprocess(inputs["nchw"]))
save_file({k: v.contiguous() for k, v in outputs.items()}, work + "/outputs.safetensors")
facts = {
    "CLASSES": model.CLASSES,
    "MEAN": model.MEAN,
    "STD": model.STD,
    "INPUT_SHAPE": model.INPUT_SHAPE,
    "NUM_CLASSES": model.NUM_CLASSES,
    "hub_training": hub.training,
    "hub_classes": hub.classes,
}
print(json.dumps(facts))
assert_no_project()
"""


def run_standalone(folder: Path, work: Path, inputs: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Import DIR/model.py and torch.hub-load DIR in `python -I` (no PYTHONPATH, cwd outside the
    repo) with the project's packages blocked by an import hook: (facts, output tensors)."""
    work.mkdir(parents=True, exist_ok=True)
    save_file(inputs, str(work / "inputs.safetensors"))
    proc = run_isolated(STANDALONE, [str(folder), str(work)], work)
    return json.loads(proc.stdout.strip().splitlines()[-1]), load_file(str(work / "outputs.safetensors"))


def test_model_py_carries_classes_stats_shape_and_preprocess_needing_only_torch(fashion_export, tmp_path):
    source = (fashion_export / "model.py").read_text()
    top_imports = set()
    for node in ast.parse(source).body:  # module level only: Pillow is imported inside preprocess
        if isinstance(node, ast.Import):
            top_imports |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top_imports.add(node.module)
    assert top_imports == {"torch", "torch.nn", "torch.nn.functional"}

    g = torch.Generator().manual_seed(0)
    nchw = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8, generator=g)
    hw = torch.randint(0, 256, (28, 28), dtype=torch.uint8, generator=g)
    rgb_hwc = torch.randint(0, 256, (30, 40, 3), dtype=torch.uint8, generator=g)
    facts, got = run_standalone(fashion_export, tmp_path / "clean", {"nchw": nchw, "hw": hw, "rgb_hwc": rgb_hwc})

    assert facts["CLASSES"] == FASHION == facts["hub_classes"]
    assert facts["MEAN"] == [0.2860405969887955] and facts["STD"] == [0.35302424451492254]
    assert facts["INPUT_SHAPE"] == [1, 28, 28] and facts["NUM_CLASSES"] == 10
    mean, std = (0.2860405969887955,), (0.35302424451492254,)
    # a uint8 batch is normalised exactly as the training data is
    assert got["nchw"].dtype == torch.float32 and torch.equal(got["nchw"], normalised(nchw, mean, std))
    assert torch.equal(got["chw"], got["nchw"][:1])
    assert got["hw"].shape == (1, 1, 28, 28) and torch.equal(got["hw"], normalised(hw[None, None], mean, std))
    # a grey PIL image of the right size gives the same pixels as its tensor
    assert torch.equal(got["pil"], got["hw"])
    # a list: the grey one, and an RGB one of another size converted to grey and resized
    assert got["pil_list"].shape == (2, 1, 28, 28) and torch.equal(got["pil_list"][:1], got["hw"])
    from PIL import Image

    rgb = (
        Image.frombytes("RGB", (40, 30), bytes(rgb_hwc.flatten().tolist()))
        .convert("L")
        .resize((28, 28), Image.BILINEAR)
    )
    want = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(1, 1, 28, 28)
    assert torch.equal(got["pil_list"][1:], normalised(want, mean, std))
    # the network of model.py is the compiled one with the same weights; torch.hub gives it too
    ref = build(tiny_arch(), (1, 28, 28), 10).eval()
    ref.load_state_dict(load_file(str(fashion_export / "weights.safetensors")), strict=True)
    with torch.no_grad():
        assert (got["logits"] - ref(normalised(nchw, mean, std))).abs().max().item() <= 1e-5
    assert torch.equal(got["hub_logits"], got["logits"]) and facts["hub_training"] is False


def test_preprocess_converts_layouts_channels_sizes_and_refuses_the_rest(arch_file, tmp_path, capsys):
    from PIL import Image

    rc, _, err = cli(
        capsys, "export", "--arch", str(arch_file), "--out", str(tmp_path / "rgb"), "--input-shape", "3,32,32"
    )
    assert rc == 0, err
    m = import_model_py(tmp_path / "rgb")
    assert m.INPUT_SHAPE == (3, 32, 32) and m.MEAN == (0.0, 0.0, 0.0) and m.STD == (1.0, 1.0, 1.0)
    g = torch.Generator().manual_seed(1)
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g)
    assert torch.equal(m.preprocess(img), img.float() / 255)
    # grey is repeated to RGB; alpha is dropped; float pixels in [0, 1] are taken as they are
    grey = torch.randint(0, 256, (32, 32), dtype=torch.uint8, generator=g)
    assert torch.equal(m.preprocess(grey), (grey.float() / 255).expand(1, 3, 32, 32))
    rgba = torch.cat([img, torch.zeros(2, 1, 32, 32, dtype=torch.uint8)], dim=1)
    assert torch.equal(m.preprocess(rgba), m.preprocess(img))
    assert (m.preprocess(img.float() / 255) - m.preprocess(img)).abs().max().item() <= 1e-6
    # other sizes are resized (antialiased bilinear, as `image_size` does for the datasets)
    big = torch.randint(0, 256, (1, 3, 64, 48), dtype=torch.uint8, generator=g)
    out = m.preprocess(big)
    assert out.shape == (1, 3, 32, 32) and out.dtype == torch.float32
    want = torch.nn.functional.interpolate(big.float(), size=(32, 32), mode="bilinear", antialias=True)
    assert torch.equal(out, want.round().clamp(0, 255) / 255)
    # PIL: any mode becomes RGB, any size 32x32
    pil = Image.frombytes("L", (20, 10), bytes(range(200)))
    assert m.preprocess(pil).shape == (1, 3, 32, 32)
    assert m.preprocess([pil, Image.new("RGBA", (32, 32), (10, 20, 30, 0))]).shape == (2, 3, 32, 32)
    assert torch.allclose(m.preprocess(Image.new("RGB", (32, 32), (255, 0, 51)))[0, :, 0, 0], torch.tensor([1, 0, 0.2]))
    for bad, error in (
        (torch.zeros(5, 32, 32, 3, dtype=torch.uint8), ValueError),  # channels last
        (torch.zeros(7, 32, 32, dtype=torch.uint8), ValueError),  # 3-d but not one image
        (torch.zeros(1, 1, 1, 3, 32, 32, dtype=torch.uint8), ValueError),
        (torch.full((3, 32, 32), 2.0), ValueError),  # floats must be in [0, 1]
        (torch.full((3, 32, 32), 256, dtype=torch.int32), ValueError),
        (torch.zeros(3, 32, 32, dtype=torch.bool), TypeError),
        ([], ValueError),
        ("image.png", TypeError),
    ):
        with pytest.raises(error, match="preprocess"):
            m.preprocess(bad)
    # RGB into a grey model: luminance, as Pillow's "L" (ITU-R 601-2)
    grey_model = import_model_py(_export_default(arch_file, tmp_path / "grey"))
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 28, 28)
    assert torch.allclose(grey_model.preprocess(rgb), torch.full((1, 1, 28, 28), 76 / 255))


def _export_default(arch_file: Path, out: Path) -> Path:
    assert main(["export", "--arch", str(arch_file), "--out", str(out)]) == 0
    return out


# ---- nas export --arch -------------------------------------------------------------------------
def test_arch_export_writes_the_search_export_files_with_seeded_fresh_weights(arch_file, tmp_path, capsys):
    out = tmp_path / "plain"
    rc, stdout, err = cli(capsys, "export", "--arch", str(arch_file), "--out", str(out), "--seed", "3")
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == EXPORT_FILES
    assert "fresh weights, seed 3" in stdout
    assert Arch.from_json((out / "arch.json").read_text()) == tiny_arch()
    m = import_model_py(out)
    assert m.CLASSES == [str(i) for i in range(10)] and m.MEAN == (0.0,) and m.STD == (1.0,)
    assert m.INPUT_SHAPE == (1, 28, 28) and m.NUM_CLASSES == 10 and m.ARCH_HASH == tiny_arch().hash()
    source = (out / "model.py").read_text()
    assert "freshly initialised (seed 3), not trained" in source
    assert 'model.load_state_dict(load_file("weights.safetensors"), strict=True)' in source
    # the weights are those of the compiled network after torch.manual_seed(seed)
    state = torch.get_rng_state()
    torch.manual_seed(3)
    ref = build(tiny_arch(), (1, 28, 28), 10)
    torch.set_rng_state(state)
    weights = load_file(str(out / "weights.safetensors"))
    assert weights.keys() == ref.state_dict().keys()
    assert all(torch.equal(weights[k], v) for k, v in ref.state_dict().items())
    # the exporter leaves the global random state alone
    before = torch.get_rng_state()
    export_arch(tiny_arch(), tmp_path / "api", seed=4, num_classes=3, input_shape=(2, 9, 9))
    assert torch.equal(torch.get_rng_state(), before)
    other = load_file(str(tmp_path / "api" / "weights.safetensors"))
    assert other["head.2.weight"].shape == (3, 24)
    assert import_model_py(tmp_path / "api").CLASSES == ["0", "1", "2"]
    # nas.load reads it like a search's export
    model = load(out)
    assert not model.training and all(torch.equal(model.state_dict()[k], weights[k]) for k in weights)


def test_arch_export_takes_shape_classes_and_stats_from_a_dataset(arch_file, tmp_path, capsys):
    # registered: Fashion-MNIST (no image read), and class names alone for CIFAR-10
    assert known_classes("fashion-mnist") == FASHION and known_classes("cifar-10") == CIFAR10
    assert known_classes("mnist") == [str(i) for i in range(10)] == known_classes("synthetic")
    assert known_stats("fmnist") == ((1, 28, 28), (0.2860405969887955,), (0.35302424451492254,))
    assert known_classes("npz:/nowhere.npz") is None and known_stats("synthetic") is None
    # synthetic: the statistics are measured (they depend on the seed, like the images)
    rc, _, err = cli(
        capsys,
        "export",
        "--arch",
        str(arch_file),
        "--out",
        str(tmp_path / "syn"),
        "--dataset",
        "synthetic",
        "--seed",
        "2",
    )
    assert rc == 0, err
    m = import_model_py(tmp_path / "syn")
    data = load_dataset("synthetic", val_fraction=0.0, seed=2)
    assert m.CLASSES == data.classes == [str(i) for i in range(10)]
    assert m.MEAN == data.mean and m.STD == data.std and m.INPUT_SHAPE == data.input_shape
    # imagefolder: the folder names; the folder's absolute path is written nowhere
    from PIL import Image

    root = tmp_path / "pets"
    for c, name in enumerate(["cat", "dog", "eel"]):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (12, 12), (40 * c, 10 * i, 200)).save(root / name / f"{i}.png")
    out = tmp_path / "folder"
    rc, _, err = cli(capsys, "export", "--arch", str(arch_file), "--out", str(out), "--dataset", f"imagefolder:{root}")
    assert rc == 0, err
    m = import_model_py(out)
    data = load_dataset(f"imagefolder:{root}", val_fraction=0.0)
    assert m.CLASSES == ["cat", "dog", "eel"] == data.classes == known_classes(f"imagefolder:{root}")
    assert m.INPUT_SHAPE == (3, 32, 32) and m.MEAN == data.mean and m.STD == data.std
    assert "imagefolder:pets" in (out / "model.py").read_text()
    for f in out.iterdir():
        assert str(tmp_path).encode() not in f.read_bytes(), f.name
    # --input-shape must agree with the dataset's channels, --num-classes with its classes
    for extra, words in (
        (["--input-shape", "3,28,28"], ("3 channel", "1")),
        (["--num-classes", "7"], ("--num-classes 7", "10 classes")),
    ):
        rc, _, err = cli(
            capsys, "export", "--arch", str(arch_file), "--out", str(tmp_path / "x"), "--dataset", "fmnist", *extra
        )
        assert rc == 2 and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(
    not any(Path(p, "fashion-mnist").is_dir() for p in ("/usr/share/datasets",)) and not os.environ.get("NAS_DATA_DIR"),
    reason="Fashion-MNIST files not installed",
)
def test_registered_statistics_are_what_load_dataset_computes():
    for name in ("fashion-mnist", "mnist", "cifar10"):
        spec = get_spec(name)
        if spec.mean is None:
            continue
        try:
            data = load_dataset(name, val_fraction=0.0, download=False)
        except Exception as e:  # noqa: BLE001 - only the installed datasets can be checked
            if type(e).__name__ == "DatasetNotFound":
                continue
            raise
        assert data.input_shape == spec.input_shape
        assert data.mean == pytest.approx(spec.mean, abs=1e-12) and data.std == pytest.approx(spec.std, abs=1e-12)
        assert data.classes == list(spec.classes)


def test_arch_export_errors_are_one_line(arch_file, tmp_path, capsys):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    not_arch = tmp_path / "not_arch.json"
    not_arch.write_text(json.dumps({"schema": "nas.arch/1", "nodes": [{"op": "conv3x3"}]}))
    out = tmp_path / "never"
    for argv, words in (
        (["--arch", str(tmp_path / "missing.json")], ("not found", "nas sample")),
        (["--arch", str(tmp_path)], ("is a directory",)),
        (["--arch", str(bad_json)], ("not valid JSON",)),
        (["--arch", str(not_arch)], ("node 0",)),
        (["--arch", str(arch_file), "--input-shape", "1,28"], ("--input-shape", "C,H,W")),
        (["--arch", str(arch_file), "--input-shape", "a,b,c"], ("--input-shape",)),
        (["--arch", str(arch_file), "--num-classes", "0"], ("--num-classes",)),
        (["--arch", str(arch_file), "--seed", "-1"], ("--seed",)),
        (["--arch", str(arch_file), "--dataset", "nope"], ("unknown dataset 'nope'",)),
        (["--arch", str(arch_file), "--retrain"], ("--retrain", "--arch")),
        (["--arch", str(arch_file), "--trial", "0"], ("not allowed",)),
        (["--trial", "0", "--input-shape", "1,28,28"], ("--input-shape", "--arch")),
    ):
        rc, stdout, err = cli(capsys, "export", "--out", str(out), *argv)
        assert rc == 2 and stdout == "", (argv, err)
        assert len(err.strip().splitlines()) == 1 and all(w in err for w in words), (argv, err)
    assert not out.exists()
    # a non-empty --out needs --force, as for a search's export
    (out).mkdir()
    (out / "notes.txt").write_text("mine")
    rc, _, err = cli(capsys, "export", "--arch", str(arch_file), "--out", str(out))
    assert rc == 2 and "--force" in err
    assert cli(capsys, "export", "--arch", str(arch_file), "--out", str(out), "--force")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*EXPORT_FILES, "notes.txt"])


# ---- torch.hub ---------------------------------------------------------------------------------
def test_torch_hub_loads_the_export(fashion_export, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    assert 'dependencies = ["torch", "safetensors"]' in (fashion_export / "hubconf.py").read_text()
    model = torch.hub.load(str(fashion_export), "net", source="local", pretrained=True)
    assert not model.training and model.classes == FASHION
    weights = load_file(str(fashion_export / "weights.safetensors"))
    assert all(torch.equal(model.state_dict()[k], weights[k]) for k in weights)
    x = model.preprocess(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8))
    with torch.no_grad():
        assert torch.equal(model(x), load(fashion_export)(x))
    fresh = torch.hub.load(str(fashion_export), "net", source="local", pretrained=False)
    assert fresh.training
    assert not torch.equal(fresh.state_dict()["n0.0.weight"], weights["n0.0.weight"])


def test_torch_hub_keeps_exports_of_different_architectures_apart(arch_file, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    small = Arch((Node("input", (), None, 0, 4), Node("output", (0,), None, 0, 4)))
    export_arch(tiny_arch(), tmp_path / "a", num_classes=10)
    export_arch(small, tmp_path / "b", num_classes=3)
    a = torch.hub.load(str(tmp_path / "a"), "net", source="local")
    b = torch.hub.load(str(tmp_path / "b"), "net", source="local")
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        assert a(x).shape == (1, 10) and b(x).shape == (1, 3)


# ---- byte-identical re-exports -----------------------------------------------------------------
def test_exporting_twice_gives_byte_identical_files(arch_file, fashion_export, tmp_path, capsys):
    argv = ["export", "--arch", str(arch_file), "--dataset", "fashion-mnist", "--onnx", "--out"]
    assert cli(capsys, *argv, str(tmp_path / "again"))[0] == 0
    # a fresh process too: safetensors orders its metadata as a hash map, differently per process
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from nas.cli.main import main; sys.exit(main(sys.argv[1:]))", *argv]
        + [str(tmp_path / "process")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in fashion_export.iterdir() if p.name != "__pycache__")  # other tests import it
    assert names == sorted([*EXPORT_FILES, "model.onnx"])
    for other in ("again", "process"):
        assert sorted(p.name for p in (tmp_path / other).iterdir() if p.name != "__pycache__") == names
        for name in names:
            assert (tmp_path / other / name).read_bytes() == (fashion_export / name).read_bytes(), (other, name)
    # nothing machine-specific: no directory of this machine, no time stamp
    for name in names:
        data = (fashion_export / name).read_bytes()
        for path in (str(fashion_export.parent), str(REPO), sys.prefix, str(Path.home())):
            assert path.encode() not in data, (name, path)


def test_canonical_safetensors_sorts_the_metadata_and_keeps_the_tensors():
    from safetensors import safe_open
    from safetensors.torch import load, save

    tensors = {"b": torch.arange(3.0), "a": torch.ones(2, 2, dtype=torch.float16), "c": torch.tensor([7])}
    meta = {f"k{i}": str(i) for i in range(20)}
    data = canonical_safetensors(save(tensors, metadata=meta))
    assert canonical_safetensors(data) == data
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    assert list(header["__metadata__"]) == sorted(meta) and n % 8 == 0
    back = load(data)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"canonical-{os.getpid()}.safetensors"
    try:
        path.write_bytes(data)
        with safe_open(str(path), "pt") as f:
            assert f.metadata() == meta
    finally:
        path.unlink(missing_ok=True)


def test_search_export_is_byte_identical_and_names_the_search_dataset_classes(arch_file, tmp_path):
    """A search's export (weights from the database) without running a search: a hand-made
    database with one finished trial whose weights are stored."""
    import db
    from workers.runner import state_dict_bytes

    arch = tiny_arch()
    url = f"sqlite:///{tmp_path / 'hand.db'}"
    store = db.connect(url)
    store.create_or_get_search(
        "hand",
        space="skipdag",
        space_options={},
        dataset="fashion-mnist",
        train_config={},
        objectives=["val_accuracy"],
        config={},
        code_version="t",
        optuna_study_name="nas:hand",
    )
    store.upsert_architecture(arch.hash(), arch.to_json(), 1, 1, arch.summary())
    tid = store.start_trial("hand", 0, arch.hash(), "k")
    store.finish_trial(tid, "complete", val_accuracy=0.5)
    torch.manual_seed(0)
    model = build(arch, (1, 28, 28), 10)
    meta = {"shape": [1, 28, 28], "mean": [0.25], "std": [0.5]}
    store.add_artifact(tid, "weights", state_dict_bytes(model), meta=meta)
    store.close()
    first = export(url, tmp_path / "one", trial=0)
    export(url, tmp_path / "two", trial=0)
    assert sorted(first.files) == EXPORT_FILES and first.classes == tuple(FASHION)
    for name in EXPORT_FILES:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    m = import_model_py(tmp_path / "one")
    assert m.CLASSES == FASHION and m.MEAN == (0.25,) and m.STD == (0.5,) and m.INPUT_SHAPE == (1, 28, 28)
    assert "'hand', trial 0" in (tmp_path / "one" / "model.py").read_text()


# ---- ONNX --------------------------------------------------------------------------------------
def test_onnx_has_a_dynamic_batch_axis(fashion_export):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    proto = onnx.load(str(fashion_export / "model.onnx"))
    onnx.checker.check_model(proto)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    session = ort.InferenceSession(str(fashion_export / "model.onnx"), providers=["CPUExecutionProvider"])
    model = load(fashion_export)
    for batch in (1, 5):
        x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            ref = model(x).numpy()
        (got,) = session.run(None, {"input": x.numpy()})
        assert got.shape == (batch, 10) and abs(got - ref).max() <= 1e-4


# ---- nas train --out ---------------------------------------------------------------------------
def test_train_out_writes_the_same_form(arch_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    out = tmp_path / "trained"
    rc, stdout, err = cli(
        capsys,
        "train",
        "--arch",
        str(arch_file),
        "--dataset",
        "synthetic",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--seed",
        "1",
        "--out",
        str(out),
    )
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted([*EXPORT_FILES, "metrics.json"])
    metrics = json.loads((out / "metrics.json").read_text())
    data = load_dataset("synthetic", val_fraction=0.0, seed=1)
    m = import_model_py(out)
    assert m.CLASSES == data.classes and m.MEAN == data.mean and m.STD == data.std
    assert m.INPUT_SHAPE == (1, 28, 28) and m.ARCH_HASH == metrics["arch_hash"] == tiny_arch().hash()
    source = (out / "model.py").read_text()
    assert f"{metrics['test_accuracy']:.4f}" in source and "by `nas train`" in source
    hub = torch.hub.load(str(out), "net", source="local", pretrained=True)
    test = data.test.x[:64]
    with torch.no_grad():
        logits = hub(hub.preprocess(test))
    assert not hub.training and logits.shape == (64, 10)
    # the same normalisation as training: the model's accuracy on these images is its test accuracy's
    acc = (logits.argmax(1) == data.test.y[:64]).float().mean().item()
    assert acc > 0.2
    rc, _, err = cli(capsys, "train", "--arch", str(arch_file), "--dataset", "synthetic", "--out", str(out))
    assert rc == 2 and "--force" in err
