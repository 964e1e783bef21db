"""OmegaConf resolvers the configs use (`register()` must run before Hydra composes them), and
the names they give runs.

A run is named after what tells it from others: in a sweep, the swept overrides (`pooling-max+
seed-1`); otherwise all of its command-line overrides. Keys keep their last part (`pooling`,
not `model.pooling`) unless two would read alike, and values that are paths keep their file name
(`train.parquet`), so names stay short enough for a TensorBoard table column.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[3]  # the checkout (pip install -e): logs/, data/
CONFIG_DIR = str(PROJECT_ROOT / "conf")  # every entry point composes from here

# File systems refuse names over 255 bytes; with the time stamp or job number this stays below.
MAX_NAME_CHARS = 200
# Folder names keep only characters a Hydra override takes unquoted (so a checkpoint's path can
# be pasted into ckpt_path=...): no '=', ',', brackets or '~'.
UNSAFE = re.compile(r"[^\w.\-]+")


def distinguishing(hydra: DictConfig) -> list[tuple[str, str]]:
    """(short key, short value) of the overrides that tell this run from others: in a sweep's
    job the swept ones, else all (less `hydra.job.config.override_dirname.exclude_keys`)."""
    excluded = set(hydra.job.config.override_dirname.exclude_keys)
    parser = OverridesParser.create()
    overrides = [
        o for o in parser.parse_overrides(list(hydra.overrides.task)) if _key(o) not in excluded
    ]
    swept = swept_keys(hydra) if hydra.mode == RunMode.MULTIRUN else set()
    chosen = [o for o in overrides if _key(o) in swept] or overrides
    keys = short_keys([_key(o) for o in chosen])
    return [(key, short_value(o.get_value_element_as_str())) for key, o in zip(keys, chosen)]


def swept_keys(hydra: DictConfig) -> set[str]:
    """The keys a sweep varies: its `hydra.sweeper.params` (presets, Optuna's search space)
    and the command-line overrides with several values (from the sweep's own record,
    `multirun.yaml`, which Hydra's basic sweeper writes before the first job starts)."""
    keys = set(OmegaConf.select(hydra, "sweeper.params", default=None) or {})
    record = Path(hydra.sweep.dir) / "multirun.yaml"
    if record.is_file():
        task = OmegaConf.load(record).hydra.overrides.task
        parsed = OverridesParser.create().parse_overrides(list(task))
        keys |= {_key(o) for o in parsed if o.is_sweep_override()}
    return keys


def short_keys(keys: list[str]) -> list[str]:
    """Each dotted key's shortest ending that no other key in `keys` shares."""
    shortest = []
    for key in keys:
        parts = key.replace("/", ".").split(".")  # model/pooling (a group) reads as pooling
        for n in range(1, len(parts) + 1):
            ending = ".".join(parts[-n:])
            if not any(
                other != key and f".{other.replace('/', '.')}".endswith(f".{ending}")
                for other in keys
            ):
                break
        shortest.append(ending)
    return shortest


def short_value(value: str) -> str:
    """A path's file or folder name (`/data/x/train.parquet` -> `train.parquet`), unquoted."""
    value = value.strip("'\"")
    return Path(value).name or value if "/" in value else value


def label(hydra: DictConfig) -> str:
    """The run as TensorBoard's HPARAMS table names it, e.g. `pooling=max,seed=1`."""
    return ",".join(f"{key}={value}" for key, value in distinguishing(hydra)) or "defaults"


def folder_label(hydra: DictConfig) -> str:
    """The same for a folder name, e.g. `pooling-max+seed-1`: `=`- and `,`-free."""
    items = [f"{_safe(key)}-{_safe(value)}" for key, value in distinguishing(hydra)]
    return "+".join(items)[:MAX_NAME_CHARS]


def run_suffix(*, _root_: DictConfig) -> str:
    """`_<folder label>` after a single run's time stamp, or nothing when it has no overrides."""
    name = folder_label(_root_.hydra)
    return f"_{name}" if name else ""


def job_folder(num: int, *, _root_: DictConfig) -> str:
    """A sweep job's folder: `<folder label>_<job number>` (the number keeps it unique when two
    jobs read alike, e.g. an Optuna trial that repeats one)."""
    name = folder_label(_root_.hydra)
    return f"{name}_{num}" if name else str(num)


def _key(override: Override) -> str:
    return override.key_or_group.lstrip("+~")


def _safe(text: str) -> str:
    return UNSAFE.sub("_", text).strip("_") or "_"


def register(root: Path | None = PROJECT_ROOT) -> None:
    """Registers the resolvers; `root` (the checkout) becomes `paths.root_dir`, where logs/ and
    data/ live, unless LSTMLAB_ROOT is already set."""
    if root is not None:
        os.environ.setdefault("LSTMLAB_ROOT", str(root))
    OmegaConf.register_new_resolver("run_suffix", run_suffix, replace=True)
    OmegaConf.register_new_resolver("job_folder", job_folder, replace=True)
    # `${basename:${paths.output_dir}}`: the run folder's name, e.g. for a tracker's run name
    OmegaConf.register_new_resolver("basename", lambda path: Path(path).name, replace=True)
