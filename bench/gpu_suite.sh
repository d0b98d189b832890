#!/usr/bin/env bash
# The GPU suite (issue 13, part 4): eager vs CUDA-graphed steps for three presets, 1/2/4 packed
# trials, a 5-minute `nas search` and a 30-epoch final of its best against the hand-written
# ResNet-18 reference, in one run under 10 minutes, written to ONE JSON file. The work is done by
# bench/gpu_suite.py (its docstring says what each part measures); this wrapper only picks the
# Python and puts the source tree on PYTHONPATH.
#
# On a CUDA machine with nas's dependencies installed and Fashion-MNIST where nas finds it, from
# the repository root:
#
#   PYTHONPATH=$PWD bash bench/gpu_suite.sh --out gpu_suite.json
#
# CI-sized on the CPU (synthetic data, tiny networks; what needs CUDA is listed as skipped):
#
#   bash bench/gpu_suite.sh --smoke --out /tmp/gpu_suite.json
#
# Python: $PYTHON if set, else the active virtual environment's, else ./.venv/bin/python, else
# python3 on PATH. Exit status: 0 when every part ran, 1 when a part failed (the JSON says which
# and why), 2 for the full suite without CUDA.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    py="$VIRTUAL_ENV/bin/python"
  elif [ -x "$root/.venv/bin/python" ]; then
    py="$root/.venv/bin/python"
  else
    py="$(command -v python3 || command -v python)"
  fi
fi
exec "$py" "$root/bench/gpu_suite.py" "$@"
