"""OmegaConf resolvers the configs use; `register()` must run before Hydra composes them."""

from __future__ import annotations

from omegaconf import OmegaConf


def suffix(text: str) -> str:
    """`_text`, or nothing for empty text: run folders without overrides get no dangling `_`."""
    return f"_{text}" if text else ""


def register() -> None:
    OmegaConf.register_new_resolver("suffix", suffix, replace=True)
