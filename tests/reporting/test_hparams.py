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
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
from tensorboard.context import RequestContext
from tensorboard.plugins.base_plugin import TBContext
from tensorboard.plugins.hparams.hparams_plugin import HParamsPlugin
from werkzeug.test import Client

from lstmlab.reporting.hparams import HEADLINE_METRICS
from lstmlab.runs.train import train

SHOWN_WITHOUT_A_CLICK = 5  # TensorBoard ticks the first 5 hyperparameters and 5 metrics


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-job sweep over model.pooling, as `python train.py -m` leaves it."""
    folder = tmp_path_factory.mktemp("sweep")
    process = run_script(
        "train.py", "-m", *TINY, "model/pooling=max,mean", f"hydra.sweep.dir={folder}"
    )
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

    def runs(self) -> list[str]:
        return [run.run_name for run in self.provider.list_runs(RequestContext(), experiment_id="")]


@pytest.mark.slow
def test_the_hparams_tab_shows_the_swept_key_against_the_headline_metrics(sweep):
    experiment = TensorBoard(sweep).post("/experiment", {})
    infos = experiment["hparamInfos"]
    differing = [info for info in infos if info.get("differs")]
    assert [info["name"] for info in differing] == ["model.pooling"]
    assert sorted(differing[0]["domainDiscrete"]) == ["max", "mean"]
    assert infos[0]["name"] == "model.pooling"  # listed first, so ticked without a click
    metrics = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert sorted(metrics) == sorted(HEADLINE_METRICS)
    assert len(metrics) <= SHOWN_WITHOUT_A_CLICK


@pytest.mark.slow
def test_each_trial_is_named_by_its_swept_value_and_has_real_metrics(sweep):
    groups = TensorBoard(sweep).session_groups()
    names = sorted(group["name"] for group in groups)
    assert [name.split(" ")[0] for name in names] == ["pooling=max", "pooling=mean"]
    for group in groups:
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert set(values) == set(HEADLINE_METRICS)
        assert all(0.0 <= value <= 1.0 for value in values.values())


@pytest.mark.slow
def test_run_names_lead_with_the_swept_values(sweep):
    runs = sorted(TensorBoard(sweep).runs())
    assert runs == [
        "pooling-max_0",
        "pooling-max_0/hparams",
        "pooling-mean_1",
        "pooling-mean_1/hparams",
    ]


def test_the_word_vectors_coverage_is_a_hyperparameter(tmp_path, monkeypatch):
    data = write_reviews(tmp_path / "reviews", {"train": 80, "test": 20})
    vectors = mood_vectors(tmp_path / "moods.txt", dim=16)
    loaded = record_loaded_vectors(monkeypatch)
    overrides = [*review_overrides(data, tmp_path / "cache"), *TINY_RUN]
    train(compose_config([*overrides, f"init.vectors={vectors}"], tmp_path / "run"))
    (group,) = TensorBoard(tmp_path / "run").session_groups()
    assert 0 < loaded[0].fraction < 1  # the mood words only: a fraction that rounding shows
    assert group["hparams"]["model.embedding.coverage"] == round(loaded[0].fraction, 4)


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
    assert group["hparams"]["trainer.max_epochs"] == 3
    values = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}
    assert values == pytest.approx({tag: final[tag] for tag in HEADLINE_METRICS})
    assert [name for name in TensorBoard(run).runs() if "hparams" in name] == ["hparams"]
