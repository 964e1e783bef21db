"""serve.py: a real HTTP client against the server on 127.0.0.1 answers like Predictor,
refuses bad requests with 4xx and keeps answering, and batches concurrent requests."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import asdict

import httpx
import pytest
from conftest import run_script

from lstmlab.serving.export import export
from lstmlab.serving.onnx_predictor import OnnxPredictor
from lstmlab.serving.predict import Predictor
from lstmlab.serving.serve import MAX_TEXTS, describe, main
from lstmlab.serving.server_process import free_port, running_server

THREADS = 16
BODY_LIMIT = 20_000  # --max-body-bytes for the test server
# A full batch (THREADS requests) leaves at once; a lone request waits batch-timeout seconds.
OPTIONS = ["--max-batch-size", str(THREADS), "--batch-timeout", "0.2"]


# Session-wide, not per module: the slow-first order (conftest.py) and `-n 2`'s work stealing
# split this module's tests, and each split would start another server.
@pytest.fixture(scope="session")
def checkpoint(text_run):
    return text_run["results"]["best_checkpoint"]


@pytest.fixture(scope="session")
def server(checkpoint, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with (
        log.open("w") as out,
        running_server(checkpoint, *OPTIONS, "--max-body-bytes", str(BODY_LIMIT), log=out) as url,
    ):
        yield url
        # Read before the server stops: at SIGTERM LitServe's own monitor thread can trip over
        # its already stopped manager (BrokenPipeError), which is no request's doing.
        assert "Traceback" not in log.read_text()  # no request ever made it crash


@pytest.fixture(scope="session")
def client(server):
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


def expected(predictor, texts: list[str]) -> list[dict]:
    return [asdict(p) for p in predictor(texts)]


def assert_same(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for ours, theirs in zip(got, want):
        assert (ours["label"], ours["num_tokens"], ours["truncated"], ours["unknown"]) == (
            theirs["label"],
            theirs["num_tokens"],
            theirs["truncated"],
            theirs["unknown"],
        )
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)
        assert [t for t, _ in ours["attention"]] == [t for t, _ in theirs["attention"]]
        weights = [w for _, w in ours["attention"]]
        assert weights == pytest.approx([w for _, w in theirs["attention"]], abs=1e-5)


def review_texts(text_run) -> list[str]:
    test = __import__("pyarrow.parquet").parquet.read_table(text_run["data"] / "test.parquet")
    return [
        "",
        "zzzz qqqq",
        "great " * 1000,
        "boring <pad> plot",
        *test.column("text").to_pylist()[:40],
    ]


@pytest.mark.slow
def test_predictions_equal_the_predictors(client, checkpoint, text_run):
    texts = review_texts(text_run)
    response = client.post("/predict", json={"texts": texts, "attention": True})
    assert response.status_code == 200, response.text
    assert_same(
        response.json()["predictions"], expected(Predictor.from_checkpoint(checkpoint), texts)
    )
    plain = client.post("/predict", json={"texts": texts[:3]}).json()["predictions"]
    assert all("attention" not in row for row in plain)  # only when asked


@pytest.mark.slow
def test_metadata_and_health(client, checkpoint, text_run):
    assert client.get("/health").status_code == 200
    info = client.get("/metadata").json()
    assert info["runtime"] == "pytorch" and info["class_names"] == ["neg", "pos"]
    assert info["source"] == str(checkpoint) and info["attention"] is True
    assert info["metrics"]["test/acc"] == text_run["results"]["metrics"]["test/acc"]
    assert info["batching"]["max_batch_size"] == THREADS


BAD_REQUESTS = {
    "no texts": ({"attention": True}, 422, "Field required"),
    "empty list": ({"texts": []}, 422, "at least 1 item"),
    "a non-string": ({"texts": ["fine", 3]}, 422, "valid string"),
    "a string, not a list": ({"texts": "a film"}, 422, "valid list"),
    "too many texts": ({"texts": ["a"] * (MAX_TEXTS + 1)}, 422, f"at most {MAX_TEXTS} items"),
    "a misspelt key": ({"text": ["a film"]}, 422, "Extra inputs"),
    "attention not a boolean": ({"texts": ["a"], "attention": "yes"}, 422, "valid boolean"),
    "not an object": (["a film"], 422, "valid dictionary"),
    "invalid JSON": (b'{"texts": ["a film"', 422, "JSON decode error"),
    "no body": (b"", 422, "Field required"),
    "non-UTF-8 bytes": (b'{"texts": ["caf\xe9"]}', 400, "error parsing the body"),
    "a body too large": ({"texts": ["x" * BODY_LIMIT]}, 413, "Payload too large"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_gets_a_4xx_with_a_message_and_the_server_keeps_answering(client, case):
    body, status, message = BAD_REQUESTS[case]
    if isinstance(body, bytes):  # labelled as a form, as `curl -d` sends it
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        response = client.post("/predict", content=body, headers=form)
    else:
        response = client.post("/predict", json=body)
    assert response.status_code == status, response.text
    assert message in json.dumps(response.json())
    assert client.get("/health").status_code == 200
    again = client.post("/predict", json={"texts": ["a superb story"]})
    assert again.status_code == 200 and again.json()["predictions"][0]["label"] == "pos"


@pytest.mark.slow
def test_concurrent_requests_get_their_own_answers_in_shared_batches(client, checkpoint, server):
    texts = [f"{'the plot was ' * i}{'superb' if i % 2 else 'awful'}" for i in range(THREADS)]
    want = expected(Predictor.from_checkpoint(checkpoint), texts)
    before = client.get("/metadata").json()["served"]
    start, answers = threading.Barrier(THREADS), [None] * THREADS

    def ask(i: int) -> None:
        with httpx.Client(base_url=server, timeout=60) as own:
            start.wait()
            answers[i] = own.post("/predict", json={"texts": [texts[i]], "attention": True})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * THREADS
    assert_same([a.json()["predictions"][0] for a in answers], want)
    after = client.get("/metadata").json()["served"]
    assert after["requests"] - before["requests"] == THREADS
    assert after["batches"] - before["batches"] < THREADS and after["largest_batch"] > 1


@pytest.mark.slow
def test_an_export_folder_is_served_by_onnx_runtime(text_run, checkpoint, tmp_path):
    folder = export(checkpoint, tmp_path / "export")
    texts = review_texts(text_run)
    with running_server(folder, "--max-batch-size", "1") as url:  # no batching at all
        info = httpx.get(f"{url}/metadata").json()
        response = httpx.post(f"{url}/predict", json={"texts": texts, "attention": True})
    assert info["runtime"] == "onnxruntime" and info["source_checkpoint"] == str(checkpoint)
    assert response.status_code == 200, response.text
    assert_same(response.json()["predictions"], expected(OnnxPredictor.from_folder(folder), texts))


def test_a_checkpoint_never_scored_is_served_with_no_metrics(text_run):
    """/metadata's `describe`, in this process: last.ckpt's weights have no recorded metrics,
    so the run's results (those of its best checkpoint) are not shown for them."""
    last = text_run["dir"] / "checkpoints" / "last.ckpt"
    assert describe(Predictor.from_checkpoint(last), last)["metrics"] == {}


def test_serve_py_refuses_a_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main([str(tmp_path / "none.ckpt"), "--port", str(free_port())])
    assert refused.value.code == 2 and "No checkpoint at" in capsys.readouterr().err


def test_a_taken_port_and_a_port_below_1024_are_refused_before_serving(checkpoint, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        with pytest.raises(SystemExit) as refused:
            main([str(checkpoint), "--port", str(busy)])
    assert refused.value.code == 2
    assert f"cannot listen on 127.0.0.1:{busy}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as low:
        main([str(checkpoint), "--port", "80"])
    assert low.value.code == 2 and "expected 1024 to 65535" in capsys.readouterr().err


@pytest.mark.slow
def test_the_load_test_reports_every_concurrency_level(server):
    command = ["scripts/load_test.py", "--url", server, "--requests", "12", "--clients", "1", "8"]
    result = run_script(*command)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert [level["clients"] for level in figures["levels"]] == [1, 8]
    for level in figures["levels"]:
        assert level["requests"] == 12 and level["errors"] == 0
        assert level["requests_per_s"] > 0 and 0 < level["p50_ms"] <= level["p99_ms"]
    refused = run_script("scripts/load_test.py", "--url", "http://example.org:8000")
    assert refused.returncode == 2 and "loopback" in refused.stderr
