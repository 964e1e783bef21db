"""Train and test an LSTM text classifier: `python train.py model=bilstm_attn` (see README)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from lstmlab import resolvers
from lstmlab.train import train

resolvers.register(root=Path(__file__).resolve().parent)  # logs/ and data/ live here


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


if __name__ == "__main__":
    main()
