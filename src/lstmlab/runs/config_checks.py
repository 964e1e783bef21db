"""Config checks that need no class to compare against, run before any work.

Hydra accepts any new top-level key given with `+` (`+modle=bilstm`, which Hydra itself
suggests after the typo `modle=bilstm`) and passes it on unread, so the run would silently use
the default model. Values that no type hint covers (`seed`) or that a library only rejects deep
inside (`optimizer.lr=-1`, `trainer.max_epochs=0`, `scheduler.scheduler.warmup_steps=0`) are
checked here too, naming the key.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lstmlab.models.legacy import renamed
from lstmlab.models.schedules import check_warmup_steps
from lstmlab.runs import resolvers

OPTIMIZER_WORDS = {
    "lr": "learning rate",
    "betas": "beta parameter",
}  # how torch's messages name an optimizer key
RUN_LENGTH = ("max_epochs", "max_steps", "limit_train_batches")  # 0 of these trains nothing


def check_config(cfg: DictConfig, config_name: str) -> None:
    """Every check of this module that applies to `conf/<config_name>.yaml`'s task."""
    check_top_level_keys(cfg, config_name)
    check_seed(cfg)
    if "optimizer" in cfg:  # the tasks that train
        check_optimizer(cfg.optimizer)
        check_run_length(cfg.trainer)
    warmup_steps = OmegaConf.select(cfg, "scheduler.scheduler.warmup_steps")
    if warmup_steps is not None:  # else refused inside `fit`, after the run's first files
        check_warmup_steps(warmup_steps)


def group_options(group: str) -> list[str]:
    """The options of a config group: conf/<group>/*.yaml (e.g. model/pooling)."""
    return sorted(p.stem for p in (Path(resolvers.CONFIG_DIR) / group).glob("*.yaml"))


def check_spelling(overrides: list[str]) -> None:
    """A ValueError for a command-line override in the old flat spelling of the model
    (`model.pooling=max`, `model.hidden_size=256`, `model.adversarial_eps=1`), giving the new
    one; run on the command line before Hydra reads it (which would reject it less kindly)."""
    for override in overrides:
        key, _, value = override.partition("=")
        new = renamed(key.lstrip("+~"))
        if new is None:
            continue
        options = f" (options: {', '.join(group_options(new))})" if "/" in new else ""
        raise ValueError(
            f"{key}={value} is the old spelling: the model's parts and the training objectives "
            f"are config groups of their own now. Write {new}={value}{options}."
        )


def known_keys(config_name: str) -> list[str]:
    """The top-level keys `conf/<config_name>.yaml` declares: its own keys and its groups."""
    primary = OmegaConf.load(Path(resolvers.CONFIG_DIR) / f"{config_name}.yaml")
    keys = [str(key) for key in primary if key != "defaults"]
    for entry in primary.get("defaults", []):
        if isinstance(entry, str):  # _self_
            continue
        for group in entry:
            keys.append(str(group).removeprefix("optional ").removeprefix("override "))
    return sorted(set(keys) - {"_self_"})


def check_top_level_keys(cfg: DictConfig, config_name: str) -> None:
    """A ValueError for top-level keys `conf/<config_name>.yaml` does not know (a typo given
    with `+`), listing the known ones."""
    known = known_keys(config_name)
    unknown = [str(key) for key in cfg if str(key) not in known]
    if not unknown:
        return
    hints = [
        f"{key} (did you mean {close[0]}?)"
        if (close := difflib.get_close_matches(key, known))
        else key
        for key in unknown
    ]
    raise ValueError(
        f"Unknown top-level key {', '.join(hints)}: {config_name}.py knows {', '.join(known)}. "
        f"Drop the `+` and fix the name (e.g. model=bilstm picks an option of a group; "
        f"+<group>.<key>=... adds a key inside one)."
    )


def check_seed(cfg: DictConfig) -> None:
    """`seed` must be an integer: Lightning would fail with a bare int() error."""
    seed = cfg.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed={seed!r}: expected an integer (e.g. seed=1).")


def check_run_length(trainer: DictConfig) -> None:
    """A ValueError for a run that would train nothing (its results would be the untrained
    model's)."""
    for key in RUN_LENGTH:
        value = trainer.get(key)
        if value is not None and not isinstance(value, bool) and value == 0:
            raise ValueError(
                f"trainer.{key}={value}: the run would train nothing and report the untrained "
                f"model. Set trainer.{key} to 1 or more (to score a checkpoint without "
                "training: python evaluate.py ckpt_path=...)."
            )


def check_optimizer(optimizer: DictConfig) -> None:
    """Builds the optimiser once on a dummy parameter, so torch's refusal of a value
    (`Invalid learning rate: -1`) names the key now instead of failing inside `fit`."""
    if not optimizer or "_target_" not in optimizer:
        return
    try:
        instantiate(optimizer)([torch.zeros(1, requires_grad=True)])
    except ValueError as err:
        message = str(err)
        keys = [
            f"optimizer.{key}={optimizer[key]}"
            for key in optimizer
            if str(key) in message or OPTIMIZER_WORDS.get(str(key), "\0") in message.lower()
        ]
        named = ", ".join(keys) or "an optimizer.* value"
        raise ValueError(
            f"{named}: {optimizer._target_} refuses it ({message}). Fix the override or "
            "conf/optimizer/ (learning rates and weight decays are positive)."
        ) from None
