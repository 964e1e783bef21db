"""An Optuna worker: `python sweep.py hparams_search=optuna` runs trials of a shared study until
it has its n_trials; start several for several at once (see README, Sweeps)."""

import sys

from lstmlab.runs.search import main

if __name__ == "__main__":
    sys.exit(main())
