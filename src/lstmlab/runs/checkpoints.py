"""A trained model back from one checkpoint file, read safely and checked.

Checkpoints hold only tensors and plain data (the model's settings, the data settings, the
tokenizer as JSON), so they are read with `torch.load(weights_only=True)`: loading a file never
runs code from it. Every way a file can be wrong ends in a `CheckpointError` that says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_object
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf
from torch import nn

from lstmlab.data.tokenization import TextEncoder, from_json
from lstmlab.models.legacy import flatten, upgrade_classifier
from lstmlab.models.lit_module import ClassifierModule

REQUIRED_KEYS = ("state_dict", "hyper_parameters")  # what Lightning writes for every module


class CheckpointError(ValueError):
    """The file is missing, unreadable, or not a checkpoint of a `ClassifierModule`."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, or a `CheckpointError` naming what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"No checkpoint at {path}. A run keeps its checkpoints in "
            "<run folder>/checkpoints/ (epoch_NNN.ckpt for the best epoch, last.ckpt)."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip, pickle and safety errors: all mean "not readable as saved"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path} could not be read as a checkpoint ({type(err).__name__}: {reason}). It may "
            "be truncated (an interrupted copy, a full disk) or another kind of file; try the "
            "run's other checkpoint (last.ckpt or epoch_NNN.ckpt)."
        ) from err
    missing = [
        key for key in REQUIRED_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint
    ]
    if missing:
        raise CheckpointError(
            f"{path} is not a checkpoint written by train.py: it has no {' or '.join(missing)}. "
            "Give a file from a run's checkpoints/ folder."
        )
    return checkpoint


def text_state(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The datamodule state that carries the tokenizer (Lightning files it under the
    datamodule's class name), or None for data without one (the synthetic task)."""
    for value in checkpoint.values():
        if isinstance(value, dict) and {"tokenizer", "pad_id"} <= value.keys():
            return value
    return None


def require_text_state(checkpoint: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """`text_state`, or a `CheckpointError` for a checkpoint of a run without text."""
    state = text_state(checkpoint)
    if state is None:
        raise CheckpointError(
            f"{path} holds no tokenizer: its run's data had none (the synthetic task reads "
            "token ids, not text). Use a checkpoint of a run on text data, e.g. data=imdb."
        )
    return state


def load_model(checkpoint: dict[str, Any], path: str | Path = "checkpoint") -> ClassifierModule:
    """The trained `ClassifierModule`, in eval mode, on the CPU, checked against its tokenizer.
    A checkpoint of an older version has its settings upgraded (`models/legacy.py`)."""
    hparams = settings(checkpoint)
    check_targets(hparams.get("net"), path)
    _check_vocabulary(checkpoint, hparams, path)
    try:
        model = ClassifierModule(**hparams)
        model.load_state_dict(checkpoint["state_dict"])
        model.temperature = temperature(checkpoint)
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise CheckpointError(
            f"{path} holds a model this version of lstmlab cannot rebuild: {err}. Was it "
            "written by another model class or an incompatible lstmlab version?"
        ) from err
    return model.eval()


def settings(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's model settings (`ClassifierModule`'s arguments), upgraded if old."""
    return upgrade_classifier(checkpoint["hyper_parameters"])


def check_targets(config: Any, path: str | Path) -> None:
    """A CheckpointError for any `_target_` in the network's config that is not an `nn.Module`
    class: a checkpoint is untrusted input, and building it must only ever make modules."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} holds no network config (`net`): not a train.py checkpoint.")
    for key, value in config.items():
        if isinstance(value, dict):
            check_targets(value, path)
        elif key == "_target_":
            try:
                built = get_object(str(value))
            except Exception:  # not importable: refused below like any other non-module
                built = None
            if not (isinstance(built, type) and issubclass(built, nn.Module)):
                raise CheckpointError(
                    f"{path} names `_target_: {value}`, which is not an nn.Module class this "
                    "installation has; a checkpoint's network is built only from modules. Use "
                    "a checkpoint written by train.py (with the code of its model installed)."
                )


def temperature(checkpoint: dict[str, Any]) -> float:
    """The temperature `evaluate.py calibrate=true` fitted (1.0: not calibrated)."""
    return float((checkpoint.get("calibration") or {}).get("temperature", 1.0))


def _check_vocabulary(
    checkpoint: dict[str, Any], hparams: dict[str, Any], path: str | Path
) -> None:
    state = text_state(checkpoint)
    rows = hparams["net"].get("vocab_size")
    if state is None or rows is None:
        return
    size = from_json(state["tokenizer"]).get_vocab_size()
    if size != rows:
        raise CheckpointError(
            f"{path} pairs a model with {rows} token embeddings with a tokenizer of {size} "
            "tokens, so ids would mean other words: the file was assembled from different "
            "runs. Use a checkpoint written by one train.py run."
        )


def load_text_encoder(path: str | Path) -> TextEncoder:
    """The `TextEncoder` of a checkpoint of a run on text data (e.g. IMDB)."""
    return TextEncoder.from_state(require_text_state(read_checkpoint(path), path))


# ----------------------------------------------------------------------------- checkpoint vs data


def align_labels(data_cfg: DictConfig, trained: list[str] | None) -> DictConfig:
    """`data_cfg` with `labels` in the checkpoint's order when it lists the checkpoint's
    classes in another order (`+data.labels=[1,0]`): class ids follow `labels`, so the model's
    class 0 would be scored against the data's class 0 of another name. Mapped by name, said."""
    labels = data_cfg.get("labels") if "labels" in data_cfg else None
    if not trained or labels is None or list(map(str, labels)) == trained:
        return data_cfg
    if sorted(map(str, labels)) != sorted(trained):
        return data_cfg  # other classes: check_classes refuses them after reading the data
    rank_zero_info(
        f"data.labels={list(map(str, labels))} lists the checkpoint's classes in another "
        f"order: labels are mapped by name to the checkpoint's order {trained}."
    )
    return OmegaConf.merge(data_cfg, {"labels": trained})


def check_classes(trained: list[str] | None, data: list[str] | None, path: str | Path) -> None:
    """A CheckpointError when the data's classes (in id order) are not the checkpoint's: each
    class id would be scored, or trained on, as another class."""
    if not trained or not data or list(data) == list(trained):
        return
    raise CheckpointError(
        f"{path} was trained on the classes {trained} (in id order), but the data gives "
        f"{list(data)}, so class ids would mean other classes. Use data with the checkpoint's "
        f"classes; for your own files set data.labels={trained} (labels are then mapped by "
        "name)."
    )


def check_shapes(checkpoint: dict[str, Any], model: torch.nn.Module, path: str | Path) -> None:
    """A CheckpointError naming the settings that differ when the checkpoint's weights do not
    fit `model` (built from this run's config), instead of torch's list of tensor sizes."""
    own = model.state_dict()
    if all(
        key in own and own[key].shape == value.shape
        for key, value in checkpoint["state_dict"].items()
    ):
        return
    saved = flatten(settings(checkpoint).get("net") or {})
    current = flatten(dict(model.hparams).get("net") or {})
    differ = [
        f"model.{key} {saved.get(key)} in the checkpoint vs {current.get(key)} now"
        for key in dict.fromkeys([*saved, *current])
        if saved.get(key) != current.get(key)
    ]
    raise CheckpointError(
        f"{path} holds weights of other shapes than this config's model: "
        f"{'; '.join(differ) or 'another architecture'}. Set those keys as the run that wrote "
        "the checkpoint did (its .hydra/config.yaml), or start without ckpt_path."
    )
