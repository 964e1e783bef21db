"""The old spelling: the flat `model.*` keys of files and commands written before the model
config mirrored its objects (one `model` node held the LSTM's settings, the pooling's name,
the training objectives and the starting weights).

`OLD_KEYS` is the one table of old key -> new key. It serves both the refusal of an old
override (runs/legacy_spelling.py) and the upgrade of old checkpoints' and encoder files'
settings here, so that files users already have keep loading.
"""

from __future__ import annotations

import copy
from typing import Any

from lstmlab.models import pooling
from lstmlab.models.encoders.recurrent import RecurrentEncoder
from lstmlab.models.network import TextClassifier

OLD_KEYS = {
    "embed_dim": "model.encoder.embed_dim",
    "hidden_size": "model.encoder.hidden_size",
    "num_layers": "model.encoder.num_layers",
    "bidirectional": "model.encoder.bidirectional",
    "embed_dropout": "model.encoder.embed_dropout",
    "lstm_dropout": "model.encoder.layer_dropout",
    "weight_dropout": "model.encoder.weight_dropout",
    "init_state": "model.encoder.init_state",
    "forget_bias": "model.encoder.forget_bias",
    "lstm_impl": "model.encoder.impl",
    "pooling": "model/pooling",  # a config group: the value names its option
    "attn_dim": "model.pooling.attn_dim",
    "dropout": "model.dropout",
    "head": "model.head",
    "adversarial_eps": "objective.adversarial_eps",
    "vat_eps": "objective.vat_eps",
    "vat_xi": "objective.vat_xi",
    "vat_weight": "objective.vat_weight",
    "entropy_weight": "objective.entropy_weight",
    "embedding.vectors": "init.vectors",
    "embedding.freeze": "init.freeze",
    "pretrained_encoder": "init.encoder",
}
# the poolings old files name (frozen: new poolings are config files, never added here)
OLD_POOLINGS = {
    "last": pooling.LastStepPooling,
    "hn": pooling.FinalStatePooling,
    "mean": pooling.MeanPooling,
    "max": pooling.MaxPooling,
    "attn": pooling.AttentionPooling,
}
DATA_KEYS = ("vocab_size", "num_classes", "pad_id")  # the data's sizes, in the net's config


def target(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def renamed(old: str) -> str | None:
    """The new spelling of an old `model.<key>` override, or None when it is not old."""
    new = OLD_KEYS.get(old.removeprefix("model."))
    return None if new is None or new == old else new


def upgrade_classifier(hparams: dict[str, Any]) -> dict[str, Any]:
    """A classifier checkpoint's settings in today's form (`ClassifierModule`'s arguments);
    those of a new checkpoint come back as they are."""
    if "net" in hparams:
        return hparams
    old = copy.deepcopy(dict(hparams))
    flat = {**flatten(old.pop("embedding", None) or {}, "embedding."), **old}
    net: dict[str, Any] = {
        "_target_": target(TextClassifier),
        "encoder": {"_target_": target(RecurrentEncoder), "_partial_": True},
        "pooling": {"_partial_": True},
    }
    module: dict[str, Any] = {"net": net, "init": {}}
    for key, value in flat.items():
        new = OLD_KEYS.get(key)
        if key in DATA_KEYS:
            net[key] = value
            if key == "num_classes":  # the metrics' too
                module[key] = value
        elif new == "model/pooling":
            net["pooling"]["_target_"] = target(OLD_POOLINGS[value])
        elif new is None and key.startswith("embedding."):  # refused by prepare_embedding
            module["init"][key.removeprefix("embedding.")] = value
        elif new is None:  # the module's own: class_names, data, optimizer, ...
            module[key] = value
        else:
            section, *path = new.split(".")
            place = module["init"] if section == "init" else module
            place = net if section == "model" else place
            for part in path[:-1]:
                place = place[part]
            place[path[-1]] = value
    net["pooling"].setdefault("_target_", target(pooling.AttentionPooling))  # the old default
    return module


def upgrade_encoder_settings(network: dict[str, Any]) -> dict[str, Any]:
    """An old encoder file's flat shape keys (`network`) as today's encoder config."""
    config = {"_target_": target(RecurrentEncoder), "_partial_": True}
    for key, value in network.items():
        config[OLD_KEYS[key].rsplit(".", 1)[-1]] = value
    return config


def upgrade_language_model(hparams: dict[str, Any]) -> dict[str, Any]:
    """An old language model's settings (the classifier's flat keys as `network`) in today's
    form (`encoder`: the encoder's config)."""
    if "network" not in hparams:
        return hparams
    new = dict(hparams)
    network = new.pop("network")
    encoder_keys = {k: v for k, v in network.items() if OLD_KEYS[k].startswith("model.encoder.")}
    return {**new, "encoder": upgrade_encoder_settings(encoder_keys)}


def flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"embedding": {"dim": 8}}` as `{"embedding.dim": 8}`."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
