"""A sweep as TensorBoard itself shows it: read through its hparams plugin and its run list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import (
    TINY,
    TINY_RUN,
    compose_config,
    mood_vectors,
    record_loaded_vectors,
    review_overrides,
    run_script,
    write_reviews,
)
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
from tensorboard.context import RequestContext
from tensorboard.data.provider import RunTagFilter
from tensorboard.plugins.base_plugin import TBContext
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams.hparams_plugin import HParamsPlugin
from tensorboard.plugins.hparams.metrics import run_tag_from_session_and_metric
from tensorboard.plugins.scalar import metadata as scalars_metadata
from werkzeug.test import Client

from lstmlab.reporting.hparams import EVENT_FILE, HEADLINE_HPARAMS, HEADLINE_METRICS, log_hparams
from lstmlab.runs.train import train


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-job sweep over model.pooling, as `python train.py -m` leaves it (2 epochs each:
    learning curves)."""
    folder = tmp_path_factory.mktemp("sweep")
    options = [*TINY, "trainer.max_epochs=2", "model/pooling=max,mean"]
    process = run_script("train.py", "-m", *options, f"hydra.sweep.dir={folder}")
    assert process.returncode == 0, process.stderr[-2000:]
    return folder


class TensorBoard:
    """TensorBoard's own backend over `logdir`: its data provider (what the run list shows)
    and the hparams plugin's HTTP handlers (what the HPARAMS tab asks for)."""

    def __init__(self, logdir: Path) -> None:
        multiplexer = EventMultiplexer()
        multiplexer.AddRunsFromDirectory(str(logdir))
        multiplexer.Reload()
        self.provider = MultiplexerDataProvider(multiplexer, str(logdir))
        context = TBContext(
            logdir=str(logdir), multiplexer=multiplexer, data_provider=self.provider
        )
        self.apps = HParamsPlugin(context).get_plugin_apps()

    def post(self, route: str, request: dict) -> dict:
        response = Client(self.apps[route]).post("/", json={"experimentName": "", **request})
        assert response.status_code == 200, response.text
        return response.get_json()

    def session_groups(self) -> list[dict]:
        request = {"allowedStatuses": ["STATUS_SUCCESS"], "startIndex": 0, "sliceSize": 10}
        return self.post("/session_groups", request)["sessionGroups"]

    def metric_evals(self, session: str, tag: str) -> list:
        """The points "Show Metrics" charts for a session's metric column (its run and tag, as
        hparams/metrics.py maps them; read as the scalars plugin reads them)."""
        name = api_pb2.MetricName(tag=tag, group="")
        run, tag = run_tag_from_session_and_metric(session, name)
        scalars = self.provider.read_scalars(
            RequestContext(),
            experiment_id="",
            plugin_name=scalars_metadata.PLUGIN_NAME,
            downsample=1000,
            run_tag_filter=RunTagFilter([run], [tag]),
        )
        return scalars.get(run, {}).get(tag, [])

    def runs(self) -> list[str]:
        return [run.run_name for run in self.provider.list_runs(RequestContext(), experiment_id="")]


@pytest.mark.slow
def test_the_hparams_tab_shows_the_swept_key_against_the_headline_metrics(sweep):
    experiment = TensorBoard(sweep).post("/experiment", {})
    infos = experiment["hparamInfos"]
    differing = [info["name"] for info in infos if info.get("differs")]
    assert differing == ["pooling"]
    assert infos[0]["name"] == "pooling"  # listed first, so ticked without a click
    assert [info["name"] for info in infos] == differing  # constant settings crowd nothing out
    metrics = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert metrics[: len(HEADLINE_METRICS)] == list(HEADLINE_METRICS)


@pytest.mark.parametrize("differing", [["pooling", "seed"], []], ids=["swept", "defaults"])
def test_the_columns_are_the_swept_keys_or_else_the_headline_ones(tmp_path, differing):
    """Constant settings as columns would push val/acc_best off a 1366-px screen."""
    params = {"pooling": "max", "seed": 1, "optimizer.lr": 1e-3, "model.dropout": 0.2}
    log_hparams(
        [TensorBoardLogger(tmp_path, name="run")], params, HEADLINE_METRICS, "run", differing
    )
    infos = TensorBoard(tmp_path).post("/experiment", {})["hparamInfos"]
    expected = differing or [key for key in HEADLINE_HPARAMS if key in params]
    assert sorted(info["name"] for info in infos) == sorted(expected)  # TensorBoard sorts them


@pytest.mark.slow
def test_each_trial_is_named_by_its_swept_value_and_has_real_metrics(sweep):
    groups = TensorBoard(sweep).session_groups()
    names = sorted(group["name"] for group in groups)
    assert [name.split(" ")[0] for name in names] == ["pooling=max", "pooling=mean"]
    for group in groups:
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert set(HEADLINE_METRICS) <= set(values)
        assert all(0.0 <= values[tag] <= 1.0 for tag in HEADLINE_METRICS)


@pytest.mark.slow
def test_each_run_appears_once_as_its_own_session(sweep):
    """No `<run>/hparams` twin: the run list is the jobs, each the session of one trial."""
    tensorboard = TensorBoard(sweep)
    runs = sorted(tensorboard.runs())
    assert runs == ["pooling-max_0", "pooling-mean_1"]
    sessions = [s["name"] for g in tensorboard.session_groups() for s in g["sessions"]]
    assert sorted(sessions) == runs


@pytest.mark.slow
def test_show_metrics_draws_learning_curves(sweep):
    """The HPARAMS table's "Show Metrics" charts a metric over the run's epochs, not a dot."""
    tensorboard = TensorBoard(sweep)
    epochs = json.loads((sweep / "pooling-max_0" / "results.json").read_text())["epochs"]
    assert epochs > 1
    for tag in ("val/acc_best", "val/acc"):
        assert len(tensorboard.metric_evals("pooling-max_0", tag)) == epochs


@pytest.mark.slow
def test_the_full_config_is_a_text_summary_beside_the_columns(sweep):
    yaml = config_text(sweep / "pooling-max_0")
    assert "pooling.MaxPooling" in yaml and "batch_size:" in yaml


def config_text(run: Path) -> str:
    """The composed config the run wrote as a text summary (TensorBoard's TEXT tab)."""
    events = EventAccumulator(str(run / EVENT_FILE)).Reload()
    (config,) = events.Tensors("config/text_summary")
    return config.tensor_proto.string_val[0].decode()


def test_the_word_vectors_coverage_is_a_hyperparameter(tmp_path, monkeypatch):
    data = write_reviews(tmp_path / "reviews", {"train": 80, "test": 20})
    vectors = mood_vectors(tmp_path / "moods.txt", dim=16)
    loaded = record_loaded_vectors(monkeypatch)
    overrides = [*review_overrides(data, tmp_path / "cache"), *TINY_RUN]
    train(compose_config([*overrides, f"init.vectors={vectors}"], tmp_path / "run"))
    (group,) = TensorBoard(tmp_path / "run").session_groups()
    assert 0 < loaded[0].fraction < 1  # the mood words only: a fraction that rounding shows
    assert group["hparams"]["init.coverage"] == round(loaded[0].fraction, 4)


def test_a_run_continued_in_its_folder_has_one_session_with_its_final_values(tmp_path):
    """The first part wrote a session too; TensorBoard must not show it, nor two."""
    run, options = tmp_path / "run", [*TINY, "~callbacks.early_stopping"]
    train(compose_config(options, run))
    first = json.loads((run / "results.json").read_text())["metrics"]
    last = run / "checkpoints" / "last.ckpt"
    train(compose_config([*options, "trainer.max_epochs=3", f"ckpt_path={last}"], run))
    final = json.loads((run / "results.json").read_text())["metrics"]
    assert final["test/acc"] != first["test/acc"]  # else the metrics could not tell them apart

    (group,) = TensorBoard(run).session_groups()
    (session,) = group["sessions"]
    assert "max_epochs: 3" in config_text(run)  # the continuation's config, not the first's
    values = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}
    values = {tag: values[tag] for tag in HEADLINE_METRICS}
    assert values == pytest.approx({tag: final[tag] for tag in HEADLINE_METRICS})
    assert len(TensorBoard(run).runs()) == 1
