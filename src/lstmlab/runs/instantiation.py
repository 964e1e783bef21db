"""Building a run's parts from its config groups: callbacks, loggers, and the checkpoint it
continues from. Shared by every Hydra task (train, evaluate, pretrain)."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from lstmlab.runs.checkpoints import read_checkpoint


def instantiate_each(group: DictConfig | None) -> list:
    """The objects of a group like `callbacks` or `logger`: one per entry with a `_target_`."""
    return list(instantiate_named(group).values())


def instantiate_named(group: DictConfig | None) -> dict[str, object]:
    """`instantiate_each`'s objects by their keys in the group (e.g. `early_stopping`)."""
    return {key: instantiate(node) for key, node in named_entries(group).items()}


def entries(group: DictConfig | None) -> list[DictConfig]:
    """The entries of a group that name a class to build (`null` ones are switched off)."""
    return list(named_entries(group).values())


def named_entries(group: DictConfig | None) -> dict[str, DictConfig]:
    """`entries` by their keys in the group."""
    return {str(k): node for k, node in (group or {}).items() if node and "_target_" in node}


def checkpoint_step(cfg: DictConfig) -> int | None:
    """The global step of `cfg.ckpt_path`, the checkpoint a run continues from (None: a new
    run). Reading it first turns a missing, truncated or foreign file into a clear error
    before any work."""
    if not cfg.get("ckpt_path"):
        return None
    return int(read_checkpoint(cfg.ckpt_path).get("global_step", 0))


def build_loggers(group: DictConfig | None, resumed_at: int | None) -> list:
    """The `logger` group's loggers. A run continued from a checkpoint at step `resumed_at`
    logs the steps after it again, so TensorBoard hides what the interrupted run had logged
    after that step (`purge_step`; what sits at the step itself, e.g. the epoch that ended
    there, stays); after a SIGKILL, up to an epoch of points would otherwise show twice. It
    logs into the MLflow run its folder started (W&B's run id comes from the folder already,
    conf/logger/wandb.yaml)."""
    loggers = []
    for node in entries(group):
        continued = {}
        if resumed_at is not None and node._target_.endswith("TensorBoardLogger"):
            continued = {"purge_step": resumed_at + 1}
        elif resumed_at is not None and node._target_.endswith("MLFlowLogger"):
            continued = earlier_mlflow_run(node)
        loggers.append(instantiate(node, **continued))
    return loggers


def earlier_mlflow_run(node: DictConfig) -> dict[str, str]:
    """`run_id` of the MLflow run tagged with this run's folder (conf/logger/mlflow.yaml), if
    the run logged one before it was interrupted."""
    from mlflow.tracking import MlflowClient  # lstmlab[trackers], as logger=mlflow needs

    folder = (node.get("tags") or {}).get("run_folder")
    client = MlflowClient(tracking_uri=node.tracking_uri)
    experiment = client.get_experiment_by_name(node.experiment_name)
    if folder is None or experiment is None:
        return {}
    found = client.search_runs(
        [experiment.experiment_id], f"tags.run_folder = '{folder}'", max_results=1
    )
    return {"run_id": found[0].info.run_id} if found else {}
