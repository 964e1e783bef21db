"""MLflow and W&B, offline, read back as their users read them: MLflow's own client, and the
offline run folder that `wandb sync` uploads."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from lstmlab.reporting.trackers import CONFIG_FILE
from lstmlab.runs.train import train

HPARAMS_METRICS = ("val/acc_best", "test/acc", "test/f1")


@pytest.mark.slow
def test_an_mlflow_run_holds_the_hyperparameters_metrics_figures_and_files(
    tiny_cfg, tmp_path, capsys
):
    client_module = pytest.importorskip("mlflow.tracking")
    cfg = tiny_cfg(
        "logger=[tensorboard,mlflow]",
        "trainer.max_epochs=2",
        "model/pooling=attn",
        "callbacks.figures.num_texts=2",
    )
    train(cfg)
    browse = capsys.readouterr().out
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path}/mlflow.db" in browse
    results = json.loads((tmp_path / "results.json").read_text())

    client = client_module.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("lstmlab").experiment_id])
    assert run.info.run_name == tmp_path.name
    assert run.data.params["model.pooling.class"] == "AttentionPooling"
    assert run.data.params["seed"] == "42"
    assert not any("/" in key for key in run.data.params)  # ours only, not Lightning's too
    for name in HPARAMS_METRICS:
        assert run.data.metrics[name] == pytest.approx(results["metrics"][name])
    assert len(client.get_metric_history(run.info.run_id, "val/acc")) == 2  # one per epoch
    (artifact,) = client.list_artifacts(run.info.run_id, "checkpoints")
    assert artifact.path == f"checkpoints/{results['best_checkpoint'].rsplit('/', 1)[-1]}"

    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"results.json", CONFIG_FILE} <= files
    config = client.download_artifacts(run.info.run_id, CONFIG_FILE, str(tmp_path / "back"))
    assert "pooling.AttentionPooling" in Path(config).read_text()
    figures = {
        Path(a.path).name.split("_step")[0]
        for stage in ("val", "test")
        for a in client.list_artifacts(run.info.run_id, f"figures/{stage}")
    }
    assert {"attention", "integrated_gradients", "confusion_matrix", "reliability"} <= figures
    assert "pr_curves" in figures


def test_a_wandb_offline_run_holds_the_config_the_final_metrics_and_files(
    tiny_cfg, tmp_path, capsys
):
    pytest.importorskip("wandb")
    train(tiny_cfg("logger=wandb", "model/pooling=max"))
    results = json.loads((tmp_path / "results.json").read_text())
    browse = capsys.readouterr().out
    assert "wandb sync" in browse and "tensorboard --logdir" not in browse
    (files,) = (tmp_path / "wandb").glob("offline-run-*/files")  # uploaded by `wandb sync`
    assert {"results.json", CONFIG_FILE} <= {path.name for path in files.iterdir()}
    assert list(files.glob("media/images/test/confusion_matrix*.png"))

    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")  # what `wandb sync` sends
    config, summary = wandb_offline_run(run_file)
    assert config["model.pooling.class"] == "MaxPooling" and config["seed"] == 42
    assert not any("/" in key for key in config if not key.startswith("_"))  # ours only
    for name in HPARAMS_METRICS:
        assert summary[name] == pytest.approx(results["metrics"][name])


def wandb_offline_run(path: Path) -> tuple[dict, dict]:
    """The config and the summary in a W&B offline run file, decoded with wandb's own record
    schema. The file is a LevelDB-style log (wandb 0.31 has no Python reader left): a 7-byte
    file header, then 32 KiB blocks of records, each with a 7-byte header (crc32, length,
    type: 1 whole, 2 first, 3 middle, 4 last part)."""
    from wandb.proto import wandb_internal_pb2

    data, block, offset, parts = path.read_bytes(), 32768, 7, b""
    config, summary = {}, {}
    while offset + 7 <= len(data):
        if block - offset % block < 7:  # a block's tail too short for a header is padding
            offset += block - offset % block
            continue
        _, length, kind = struct.unpack("<IHB", data[offset : offset + 7])
        parts += data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind not in (1, 4):
            continue
        record = wandb_internal_pb2.Record.FromString(parts)
        parts = b""
        kind_name = record.WhichOneof("record_type")
        if kind_name == "config":
            items, into = record.config.update, config
        elif kind_name == "summary":
            items, into = record.summary.update, summary
        else:
            continue
        into.update((i.key or "/".join(i.nested_key), json.loads(i.value_json)) for i in items)
    return config, summary
