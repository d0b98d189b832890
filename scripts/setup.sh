#!/usr/bin/env bash
# Set up everything nas needs in ./.venv: pinned torch first, then nas with its test extra and the
# optional extras the tests use (dashboard, tensorboard, mlflow, cluster; versions in scripts/pins.txt),
# then Fashion-MNIST from Debian's package where apt can install it (else nas downloads it
# on first use into ~/.cache/nas/datasets).
#
#   bash scripts/setup.sh
# Environment: PYTHON (default python3, >= 3.10), TORCH_SPEC (default torch==2.13.0; e.g.
# "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" for a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$PYTHON" -m venv .venv
fi
# torch goes first and pinned: a bare `torch` requirement can pull a multi-GB CUDA build.
# shellcheck disable=SC2086
.venv/bin/python -m pip install -q $TORCH_SPEC
# The package with its test extra and the optional extras the tests exercise (dashboard, tensorboard,
# mlflow, cluster: ray[default] for `ray status`/`ray list` and Ray's dashboard), at the versions
# in scripts/pins.txt; torch is held at the build installed above, so resolving them can never
# replace it.
constraints=$(mktemp)
.venv/bin/python -c 'import torch; print(f"torch=={torch.__version__}")' > "$constraints"
cat scripts/pins.txt >> "$constraints"
.venv/bin/python -m pip install -q -c "$constraints" -e ".[dev,dashboard,tensorboard,mlflow,cluster]"
rm -f "$constraints"
# Test-only: torchvision's model definitions, the oracle the presets are checked against
# (tests/oracles/torchvision_models.py). --no-deps: its wheel asks for the CUDA torch it was built
# with; the model code needs none of its C ops, and the oracle module imports it without them.
.venv/bin/python -m pip install -q --no-deps torchvision==0.28.0

data=/usr/share/datasets/fashion-mnist
if [ ! -f "$data/train-images-idx3-ubyte.gz" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Fashion-MNIST (apt-get install dataset-fashion-mnist)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
        || echo "setup: could not install dataset-fashion-mnist; nas will download Fashion-MNIST on first use" >&2
fi
echo "setup: ready ($(.venv/bin/nas --version))" >&2
