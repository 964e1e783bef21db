"""Train and test an LSTM text classifier: `python train.py model=bilstm_attn` (see README)."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from lstmlab import resolvers
from lstmlab.resume import ResumeError, expand_resume
from lstmlab.train import own_ddp_ranks, train

resolvers.register(root=Path(__file__).resolve().parent)  # logs/ and data/ live here


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with own_ddp_ranks():  # a sweep's job keeps its DDP ranks to itself
        return train(cfg)


if __name__ == "__main__":
    try:
        sys.argv[1:] = expand_resume(sys.argv[1:])  # resume=<run folder>: see lstmlab/resume.py
    except ResumeError as error:
        sys.exit(f"Error: {error}")
    main()
