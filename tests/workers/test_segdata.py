"""Segmentation data (workers/datasets/_seg.py), the dense loss and metrics (workers/dense.py) and
training on masks (workers/trainer.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.search.tasks import SEGMENT_DATASETS
from tests.workers.segfiles import write_png, write_seg_folder
from tests.workers.test_datasets import write_mnist
from workers.datasets import DatasetError, _locate, get_spec, load_dataset, names
from workers.datasets._seg import THRESHOLD, augment_pair, make_canvases
from workers.dense import DenseLoss, confusion, scores


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    monkeypatch.setattr(_locate, "SYSTEM_ROOTS", (tmp_path / "usr-share-datasets",))


def test_the_segmentation_datasets_are_the_ones_the_search_config_knows():
    assert sorted(n for n in names() if get_spec(n).task == "segment") == sorted(SEGMENT_DATASETS)


def _fmnist(tmp_path, test_labels_from=5):
    """Fake Fashion-MNIST files: training items of classes 0-4, test items of classes 5-9."""
    files = write_mnist(tmp_path / "fashion-mnist", n_train=120, n_test=40)
    from tests.workers.test_datasets import IDX_FILES, write_idx

    y_train = np.arange(120) % 5
    y_test = test_labels_from + np.arange(40) % 5
    rev = {v: k for k, v in IDX_FILES.items()}
    write_idx(tmp_path / "fashion-mnist" / rev["y_train"], y_train)
    write_idx(tmp_path / "fashion-mnist" / rev["y_test"], y_test)
    return files


def test_fmnist_seg_canvases_labels_splits_and_determinism(tmp_path):
    _fmnist(tmp_path)
    a = load_dataset("fmnist-seg", data_dir=tmp_path, download=False, subset=50, seed=3)
    b = load_dataset("fmnist-seg", data_dir=tmp_path, download=False, subset=50, seed=3)
    c = load_dataset("fmnist-seg", data_dir=tmp_path, download=False, subset=50, seed=4)
    assert a.task == "segment" and a.input_shape == (1, 64, 64) and a.num_classes == 11
    assert a.classes[0] == "background" and a.classes[1] == "T-shirt/top"
    assert (len(a.train), len(a.val), len(a.test)) == (50, 6, 1000)  # val in proportion to --subset
    assert a.train.y.dtype == torch.uint8 and a.train.y.shape == (50, 64, 64)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.y, b.val.y)  # the seed decides
    assert not torch.equal(a.train.x, c.train.x)
    assert torch.equal(a.test.x, c.test.x)  # test canvases never move with the seed
    # train/val canvases hold training items only (classes 0-4: ids 1-5), test ones test items only
    assert set(torch.unique(torch.cat([a.train.y, a.val.y])).tolist()) <= {0, 1, 2, 3, 4, 5}
    assert set(torch.unique(a.test.y).tolist()) <= {0, 6, 7, 8, 9, 10}
    assert (a.train.y > 0).any(dim=(1, 2)).all()  # every canvas holds an item
    small = load_dataset("fmnist-seg", data_dir=tmp_path, download=False, subset=10, image_size=32)
    assert small.input_shape == (1, 32, 32)


def test_canvas_labels_follow_the_threshold():
    items = np.zeros((1, 4, 4), dtype=np.uint8)
    items[0, :2, :2] = 200  # above the threshold
    items[0, 2:, 2:] = THRESHOLD  # not above: shades the canvas, stays background
    x, y = make_canvases(items, np.array([7]), np.array([0]), 3, 4, np.random.default_rng(0))
    assert torch.equal(y[:, :2, :2], torch.full((3, 2, 2), 8, dtype=torch.uint8))
    assert int(y[:, 2:, 2:].max()) == 0 and int(x[:, 0, 2:, 2:].max()) == THRESHOLD


def test_imagefolder_seg_reads_pairs_and_holds_out_a_fixed_test_split(tmp_path):
    masks = write_seg_folder(tmp_path / "d", n=10)
    ds = load_dataset(f"imagefolder-seg:{tmp_path / 'd'}", val_fraction=0.25, seed=1)
    assert ds.task == "segment" and ds.input_shape == (3, 20, 24) and ds.num_classes == 3
    assert ds.classes == ["background", "c1", "c2"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 2, 2)
    stored = {m.tobytes() for m in masks.values()}
    assert all(m.numpy().tobytes() in stored for m in torch.cat([ds.train.y, ds.val.y, ds.test.y]))
    again = load_dataset(f"imagefolder-seg:{tmp_path / 'd'}", val_fraction=0.25, seed=2)
    assert torch.equal(again.test.y, ds.test.y)
    resized = load_dataset(f"imagefolder-seg:{tmp_path / 'd'}", image_size=16)
    assert resized.input_shape == (3, 16, 16) and set(torch.unique(resized.train.y).tolist()) <= {0, 1, 2}
    split = write_seg_folder(tmp_path / "s", n=6, rgb=False, split=True)
    ds = load_dataset(f"imagefolder-seg:{tmp_path / 's'}")
    assert ds.input_shape == (1, 20, 24) and len(ds.test) == len([k for k in split if k.startswith("test/")])


def test_imagefolder_seg_errors_are_one_line(tmp_path):
    root = tmp_path / "d"
    write_seg_folder(root, n=4)
    (root / "masks" / "001.png").unlink()
    with pytest.raises(DatasetError, match=r"image .*001\.png has no mask .*masks/001\.png"):
        load_dataset(f"imagefolder-seg:{root}")
    write_seg_folder(root, n=4)
    write_png(root / "masks" / "002.png", np.zeros((10, 24), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"mask .*002\.png is 24x10 but its image is 24x20"):
        load_dataset(f"imagefolder-seg:{root}")
    write_seg_folder(root, n=4)
    write_png(root / "masks" / "003.png", np.full((20, 24), 7, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"mask .*003\.png: unknown class id 7; .*classes\.txt names 3 classes"):
        load_dataset(f"imagefolder-seg:{root}")


def test_synthetic_seg_and_the_flip_of_image_and_mask():
    ds = load_dataset("synthetic-seg", seed=5)
    assert ds.task == "segment" and ds.input_shape == (1, 32, 32) and ds.num_classes == 3
    x = torch.arange(2 * 1 * 3 * 4).view(2, 1, 3, 4)
    y = torch.arange(2 * 3 * 4).view(2, 3, 4)
    g = torch.Generator().manual_seed(0)
    fx, fy = augment_pair(x, y, flip=True, generator=g)
    for i in range(2):  # whatever the coin says, image and mask moved together
        flipped = torch.equal(fx[i, 0], x[i, 0].flip(-1))
        assert flipped or torch.equal(fx[i, 0], x[i, 0])
        assert torch.equal(fy[i], y[i].flip(-1) if flipped else y[i])


def test_miou_is_over_the_classes_present_and_pixel_accuracy():
    truth = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = torch.tensor([[0, 0, 1, 0], [0, 2, 1, 1]])
    # classes 2 (only predicted) and 3 are not in the masks: not in the mean; class 2's false
    # positive costs class 0 (a false negative there)
    s = scores(confusion(pred, truth, 4))
    iou0, iou1 = 3 / 5, 3 / 4  # tp / (tp + fp + fn)
    assert s.iou[2] is None and s.iou[3] is None
    assert s.miou == pytest.approx((iou0 + iou1) / 2)
    assert s.pixel_accuracy == pytest.approx(6 / 8)
    perfect = scores(confusion(truth, truth, 4))
    assert perfect.miou == 1.0 and perfect.pixel_accuracy == 1.0


def test_dense_losses():
    logits = torch.randn(2, 3, 5, 5, requires_grad=True)
    target = torch.randint(0, 3, (2, 5, 5), dtype=torch.uint8)
    ce = DenseLoss("ce")(logits, target)
    assert torch.isclose(ce, torch.nn.functional.cross_entropy(logits, target.long()))
    dice = DenseLoss("dice")(logits, target)
    both = DenseLoss("ce+dice")(logits, target)
    assert 0 < float(dice.detach()) < 1 and torch.isclose(both, ce + dice)
    both.backward()
    assert logits.grad is not None
    with pytest.raises(ValueError, match="use ce, dice or ce\\+dice"):
        DenseLoss("focal")


def test_training_on_masks_scores_miou(tmp_path):
    from nas.ir import build
    from search_spaces.presets import unet
    from workers.records import TrainConfig
    from workers.trainer import evaluate, train

    ds = load_dataset("synthetic-seg", subset=64)
    torch.manual_seed(0)
    model = build(unet(1, widths=(8, 16)), ds.input_shape, ds.num_classes)
    result = train(model, ds, TrainConfig(epochs=1, batch_size=32, lr=0.05, loss="ce+dice", device="cpu"))
    assert result.status == "complete" and 0 <= result.val_accuracy <= 1
    assert 0 <= result.history[0].train_accuracy <= 1  # per pixel
    _, miou = evaluate(model, ds.to("cpu").val, batch_size=16, device="cpu")
    assert miou == pytest.approx(result.val_accuracy)
    classifier = load_dataset("synthetic", subset=64)
    with pytest.raises(ValueError, match="loss 'dice' is for dense prediction"):
        from search_spaces.presets import preset

        train(build(preset("resnet18", (1, 28, 28)), (1, 28, 28), 10), classifier, TrainConfig(loss="dice"))
