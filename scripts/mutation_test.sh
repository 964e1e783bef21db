#!/usr/bin/env bash
# Mutation testing of the core (docs/testing.md): mutmut mutates models/pooling.py, the encoder
# (models/encoder.py, models/network.py) and the LightningModule's loss, and runs
# only the fast model tests (the test files listed in [tool.mutmut] in pyproject.toml) against
# each mutant. Not part of CI: it takes tens of minutes on one core.
#
#   scripts/mutation_test.sh            # the poolings, the within-length reversal, the loss
#   scripts/mutation_test.sh PATTERN..  # other mutants by name (mutmut's globs), for example
#                                       # "lstmlab.models.encoder.*" for the whole encoder
#
# Results: `mutmut results` lists the survivors, `mutmut show NAME` shows one mutant's diff.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
unset PYTHONPATH  # mutmut puts its mutated copy (mutants/src) first on the path itself

if [ "$#" -eq 0 ]; then  # the padding-critical core: what fits in under an hour on one core
    set -- \
        "lstmlab.models.pooling.xǁ*Poolingǁforward__mutmut_*" \
        "lstmlab.models.encoder.x_reversal_index__mutmut_*" \
        "lstmlab.models.encoder.x_take_steps__mutmut_*" \
        "lstmlab.models.lit_module.xǁClassifierModuleǁloss__mutmut_*" \
        "lstmlab.models.adversarial.x_adversarial_push__mutmut_*"
fi
rm -rf mutants  # a fresh copy of src/, tests/ and conf/: results never mix two versions
mutmut run --max-children 1 "$@"
mutmut export-cicd-stats 2>/dev/null || true
