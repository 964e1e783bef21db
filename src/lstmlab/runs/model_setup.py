"""The data and model a training run starts with: the datamodule set up for fitting, the model
sized by it and checked against the checkpoint it continues from, or started from pretrained
word vectors or a pretrained encoder."""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from lstmlab.models.lit_module import ClassifierModule
from lstmlab.runs.checkpoints import align_labels, check_classes, check_shapes


def build_datamodule(cfg: DictConfig, trained: dict[str, Any] | None) -> L.LightningDataModule:
    """`cfg.data`, set up for fitting (its vocabulary size and class count known); a run from
    a checkpoint reads a reordered `data.labels` in the checkpoint's class order."""
    classes = trained["hyper_parameters"].get("class_names") if trained else None
    datamodule: L.LightningDataModule = instantiate(align_labels(cfg.data, classes))
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.train_dataloader()  # its checks (a batch larger than the split) before any write
    return datamodule


def build_model(
    cfg: DictConfig, datamodule: L.LightningDataModule, trained: dict[str, Any] | None = None
) -> tuple[L.LightningModule, dict[str, float]]:
    """The run's model and, for the HPARAMS tab, the word vectors' coverage. A run from a
    checkpoint (`trained`) must match its classes and shapes, and keeps its trained weights;
    a new run starts from pretrained weights where configured."""
    model = new_model(cfg, datamodule)
    if trained is not None:
        check_classes(
            trained["hyper_parameters"].get("class_names"),
            getattr(datamodule, "class_names", None),
            cfg.ckpt_path,
        )
        check_shapes(trained, model, cfg.ckpt_path)
        return model, {}
    return model, start_from_pretrained(cfg, model, datamodule)


def new_model(cfg: DictConfig, datamodule: L.LightningDataModule) -> ClassifierModule:
    """The classifier of `cfg.model` sized by the data, with the objectives, starting weights,
    optimiser and scheduler configs; the network's config is kept in the checkpoint."""

    def plain(node: Any) -> Any:
        return OmegaConf.to_container(node, resolve=True) if node is not None else None

    sizes = {"vocab_size": datamodule.vocab_size, "num_classes": datamodule.num_classes}
    return ClassifierModule(
        net={**plain(cfg.model), **sizes, "pad_id": datamodule.pad_id},
        num_classes=datamodule.num_classes,
        class_names=getattr(datamodule, "class_names", None),
        loss_weights=getattr(datamodule, "loss_weights", None),
        data=plain(cfg.data),
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.scheduler) or None,
        init=plain(cfg.get("init")),
        **(plain(cfg.get("objective")) or {}),
    )


def start_from_pretrained(
    cfg: DictConfig, model: L.LightningModule, datamodule: L.LightningDataModule
) -> dict[str, float]:
    """Starts a new run from pretrained weights where configured: word vectors in the embedding
    (`init.vectors`) or a pretrained encoder (`init.encoder`). Returns the vectors' coverage
    for the HPARAMS tab. Not for a run from a checkpoint: its trained weights stay."""
    vectors = OmegaConf.select(cfg, "init.vectors")
    encoder = OmegaConf.select(cfg, "init.encoder")
    if vectors is None and encoder is None:
        return {}
    if vectors is not None and encoder is not None:
        raise ValueError(
            "init.vectors and init.encoder both set the embedding, and the encoder's would "
            "replace the vectors. Set init.vectors=null (an "
            "encoder pretrained from vectors holds them already, trained further)."
        )
    tokenizer = getattr(datamodule, "tokenizer", None)
    if tokenizer is None:
        key = "vectors" if vectors is not None else "encoder"
        raise ValueError(
            f"init.{key} needs a vocabulary of words, but {type(datamodule).__name__} has no "
            "tokenizer (the synthetic task's tokens are ids). Use data=imdb, "
            f"data=text_files or data=topics, or set init.{key}=null."
        )
    if encoder is not None:
        model.load_encoder(tokenizer.to_str())
        return {}
    coverage = model.load_vectors(tokenizer.get_vocab())
    rank_zero_info(str(coverage))
    return {"init.coverage": round(coverage.fraction, 4)}
