"""OmegaConf resolvers the configs use; `register()` must run before Hydra composes them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[3]  # the checkout (pip install -e): logs/, data/
CONFIG_DIR = str(PROJECT_ROOT / "conf")  # every entry point composes from here

# File systems refuse names over 255 bytes; with the time stamp and hash this stays below.
MAX_NAME_CHARS = 200


def suffix(overrides: str) -> str:
    """`_<overrides>` for a run folder's name, or nothing when there are none.

    `overrides` is Hydra's override_dirname (`key-value+key-value`). A `/` in a value (a path)
    becomes `_`, or the run would land in nested folders. A long one keeps only the
    last part of each key (`data.batch_size-32` -> `batch_size-32`), so that in a sweep the
    swept values stay visible, is cut to MAX_NAME_CHARS, and ends in a hash of the whole, so
    folders stay distinct.
    """
    if not overrides:
        return ""
    overrides = overrides.replace("/", "_")
    if len(overrides) > MAX_NAME_CHARS:
        items = (item.partition("-") for item in overrides.split("+") if item)
        short = "+".join(f"{key.rsplit('.', 1)[-1]}-{value}" for key, _, value in items)
        digest = hashlib.sha1(overrides.encode()).hexdigest()[:8]
        overrides = f"{short[:MAX_NAME_CHARS]}~{digest}"
    return f"_{overrides}"


def register(root: Path | None = PROJECT_ROOT) -> None:
    """Registers the resolvers; `root` (the checkout) becomes `paths.root_dir`, where logs/ and
    data/ live, unless LSTMLAB_ROOT is already set."""
    if root is not None:
        os.environ.setdefault("LSTMLAB_ROOT", str(root))
    OmegaConf.register_new_resolver("suffix", suffix, replace=True)
    # `${basename:${paths.output_dir}}`: the run folder's name, e.g. for a tracker's run name
    OmegaConf.register_new_resolver("basename", lambda path: Path(path).name, replace=True)
