#!/usr/bin/env bash
# Downloads into .whl/ (git-ignored) the wheels that scripts/gpu_check.sh installs on a GPU
# machine that cannot reach a package registry: what lstmlab needs and that machine's image
# lacks (hydra-core, omegaconf, antlr4, datasets and its dill/multiprocess), for its
# Python 3.12 on x86-64 Linux. Run it here, where pip works, before carrying .whl/ along:
#   bash scripts/gpu_wheels.sh && du -sh .whl     # about 1.5 MB
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_VERSION="${PYTHON_VERSION:-3.12}"  # the GPU machine's python3
rm -rf .whl && mkdir .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version "$PYTHON_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl \
    hydra-core==1.3.8 omegaconf==2.3.1 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
# antlr4's runtime (hydra's and omegaconf's parser) is published as source only: pure Python,
# so a wheel built here serves any Python 3
python3 -m pip wheel --quiet --no-deps --no-build-isolation -w .whl antlr4-python3-runtime==4.9.3
ls .whl
