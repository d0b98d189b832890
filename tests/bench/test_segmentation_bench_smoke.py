"""CI-sized run of bench/segmentation.py: every model of the comparison trains and is scored."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_segmentation_bench_compares_skips_ablation_and_search_best(tmp_path):
    out = tmp_path / "seg.json"
    args = ["--dataset", "synthetic-seg", "--image-size", "16", "--subset", "64", "--epochs", "1"]
    args += ["--narrow", "4,8", "--skip-classic", "--search-trials", "2", "--search-subset", "64"]
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "segmentation.py"), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line == json.loads(out.read_text())
    rows = {row["model"]: row for row in line["rows"]}
    assert set(rows) == {"unet-narrow", "unet-narrow-noskip", "skipunet-best"}
    for row in rows.values():
        for key in ("val_miou", "test_miou", "test_pixel_accuracy"):
            assert math.isfinite(row[key]) and 0 <= row[key] <= 1, row
    # the ablation is the same encoder-decoder without its long skip: fewer input channels to the
    # decoder's first conv (the concat is gone), nothing else
    skip, noskip = rows["unet-narrow"], rows["unet-narrow-noskip"]
    assert skip["long_skips"] == 1 and noskip["long_skips"] == 0
    # widths 4,8 at 1 channel: the decoder conv reads 8 channels (4 skip + 4 up-sampled) instead of 4
    assert skip["params"] - noskip["params"] == 4 * 3 * 3 * 4
    assert line["skipunet_search"]["search_trials"] == 2
