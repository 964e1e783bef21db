"""What a person reads of runs: the console, the HPARAMS tab, comparisons of sweeps."""
