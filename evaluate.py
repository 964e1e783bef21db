"""Score a checkpoint: `python evaluate.py ckpt_path=<checkpoint> [split=val]` (see README)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from lstmlab import resolvers
from lstmlab.evaluate import evaluate

resolvers.register(root=Path(__file__).resolve().parent)  # logs/ and data/ live here


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> dict[str, float]:
    return evaluate(cfg)


if __name__ == "__main__":
    main()
