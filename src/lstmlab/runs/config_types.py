"""Config values checked against the type hints of the class they configure.

Hydra passes a command-line value as it was typed, so `data.batch_size=abc` or
`trainer.max_epochs=ten` would otherwise fail deep inside a library, or not at all. Each key of a
node with a `_target_` is checked against the hints of that class's `__init__`, its parents'
(for keys a subclass passes on through `**kwargs`) and its `kwargs_class`'s (the class its
`**kwargs` go to, if it names one); hints this does not understand pass.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

import torch
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

# the config nodes with a `_target_` whose keys train.py and pretrain.py check
CHECKED_GROUPS = (
    "data",
    "model",
    "model.encoder",
    "model.pooling",
    "optimizer",
    "scheduler.scheduler",
    "trainer",
)
SIMPLE = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def check_types(cfg: DictConfig, *groups: str) -> None:
    """Raises a TypeError naming `<group>.<key>`, the value, and the type expected; a group may
    be a dotted path (`scheduler.scheduler`, the scheduler inside Lightning's dict)."""
    for group in groups:
        node = OmegaConf.select(cfg, group)
        if not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        target = get_object(node._target_)  # a class, or a factory such as warmup_cosine
        hints = init_hints(target) if isinstance(target, type) else function_hints(target)
        check_keys(node, target, group)
        for key, value in node.items():
            hint = hints.get(str(key))
            if value is None:  # null: filled in by the code (e.g. warmup_cosine's total_steps)
                continue
            if hint is not None and not matches(value, hint):
                raise TypeError(
                    f"{group}.{key}={value!r}: expected {describe(hint)} ({target.__name__}'s "
                    f"`{key}`). Fix the override or conf/{group}/."
                )


def check_keys(node: DictConfig, target: Any, group: str) -> None:
    """A TypeError for a key the class does not take (and takes no **kwargs for), e.g. a
    recurrent encoder's `hidden_size` left by a preset on model/encoder=cnn."""
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):  # no signature to read: nothing checked
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [str(k) for k in node if not str(k).startswith("_") and str(k) not in parameters]
    if unknown:
        taken = ", ".join(p for p in parameters if p not in ("self", "args", "kwargs"))
        raise TypeError(
            f"{group}.{unknown[0]}: {target.__name__} takes no such key (it takes {taken}). "
            f"A preset or experiment may have set it for another {group.rsplit('.', 1)[-1]}: "
            f"drop it with ~{group}.{unknown[0]}, or choose the part it was meant for."
        )


def init_hints(cls: type) -> dict[str, Any]:
    """`__init__` hints of `cls` and of the classes it inherits from, nearest first."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or not inspect.isfunction(init):
            continue
        try:
            hints.update(typing.get_type_hints(init))
        except Exception:  # hints naming what this module cannot resolve: skip the class
            continue
    hints.pop("return", None)
    forwarded = getattr(cls, "kwargs_class", None)  # where a class sends its **kwargs
    return {**init_hints(forwarded), **hints} if forwarded else hints


def function_hints(function: Any) -> dict[str, Any]:
    """The parameter hints of a factory function (`scheduler._target_`), or none."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # hints naming what this module cannot resolve: nothing checked
        return {}
    hints.pop("return", None)
    return hints


def matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, member) for member in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is torch.Tensor:  # e.g. Adam's `lr: float | Tensor`: no config value is a tensor
        return False
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (ListConfig, list, tuple))
    return True  # anything else (Any, classes, callables, mappings): not checked here


def describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not torch.Tensor]  # never in a config
        return " or ".join(dict.fromkeys(describe(member) for member in members))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    if hint is type(None):
        return "null"
    return SIMPLE.get(hint, getattr(hint, "__name__", str(hint)))
