#!/usr/bin/env bash
# The GPU check in one command, sized for one short lease on a single GPU (about 5 minutes on
# an H100/H200): installs the carried wheels of what that machine lacks (.whl/, made here by
# scripts/gpu_wheels.sh), then scripts/gpu_check.py runs the tests marked `gpu` on CUDA and the
# speed benchmark, and prints one JSON line with every figure, last. Needs IMDB's train and test
# parquet in data/imdb/ (`cp ../shared/data/imdb/{train,test}.parquet data/imdb/`).
#   bash scripts/gpu_check.sh                          # on the GPU machine
#   bash scripts/gpu_check.sh --dry-run --data tiny/   # the same steps on the CPU, tiny sizes
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore HF_HUB_OFFLINE=1
if [[ " $* " != *" --dry-run "* ]] && compgen -G ".whl/*.whl" >/dev/null; then
    site="${TMPDIR:-/tmp}/lstmlab-site"
    "${PYTHON:-python3}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" .whl/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
elif [[ " $* " != *" --dry-run "* ]]; then
    echo "no wheels in .whl/: hydra-core, omegaconf and datasets must be installed already" \
        "(else run scripts/gpu_wheels.sh here and carry .whl)" >&2
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # lstmlab itself, uninstalled there
exec "${PYTHON:-python3}" scripts/gpu_check.py "$@"  # PYTHON: the interpreter to use
