"""Pretrain a classifier's encoder as a language model: `python pretrain.py` (see README)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from lstmlab import resolvers
from lstmlab.pretrain import pretrain

resolvers.register(root=Path(__file__).resolve().parent)  # logs/ and data/ live here


@hydra.main(version_base="1.3", config_path="conf", config_name="pretrain")
def main(cfg: DictConfig) -> float | None:
    return pretrain(cfg)


if __name__ == "__main__":
    main()
