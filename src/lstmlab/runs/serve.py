"""Serve a checkpoint or an export folder over HTTP: `python serve.py SOURCE [--port 8000]`.

Built on LitServe (FastAPI and uvicorn underneath). Two kinds of process do the work:
- the HTTP process validates every request against `PredictRequest` before it goes further,
  so a bad request gets its 4xx there and never reaches (or fails) a batch that holds other
  clients' texts;
- one inference worker gathers concurrent requests into one batch (up to `max_batch_size`
  requests, waiting at most `batch_timeout` seconds for more) and runs all their texts through
  `Predictor` (a checkpoint, PyTorch) or `OnnxPredictor` (an export folder, ONNX Runtime), the
  same code as `predict.py`, so the answers are `predict.py`'s.

Endpoints: POST /predict, GET /metadata (this module), GET /health (LitServe's: 200 "ok" once
the worker has loaded the model). docs/serving.md has the request and response formats.
"""

# No `from __future__ import annotations` here: LitServe passes decode_request's annotation to
# FastAPI, which must get the PredictRequest class itself to validate bodies against it.
import argparse
import json
import multiprocessing
import os
import signal
import socket
import sys
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import litserve as ls
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from litserve.loops import BatchedLoop
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from lstmlab.models.network import returns_weights
from lstmlab.runs.checkpoints import CheckpointError
from lstmlab.runs.export import run_metrics
from lstmlab.runs.onnx_predictor import OnnxPredictor, Prediction
from lstmlab.runs.predict import Predictor, load_predictor

MAX_TEXTS = 256  # texts in one request; more is refused with 422 (send several requests)
NOT_SERVED = ("attributions", "attention_ig_spearman")  # predict.py --explain only
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # the addresses LitServe binds to


class PredictRequest(BaseModel):
    """The body of POST /predict; anything else is refused with 422 and what was wrong."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)
    attention: bool = False  # add each token's attention weight (null: the model has none)


class JsonBodies:
    """Reads every POST body as JSON whatever its Content-Type says: `curl -d` labels JSON as a
    form, which FastAPI would not parse (and bytes that are not UTF-8 then failed with 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


async def refuse(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 with where and what was wrong, without FastAPI's echo of the offending input (it
    can be the whole body, or bytes that do not encode as JSON)."""
    problems = []
    for problem in error.errors():
        reason = (problem.get("ctx") or {}).get("error")
        message = f"{problem['msg']}: {reason}" if isinstance(reason, str) else problem["msg"]
        problems.append({"loc": list(problem["loc"]), "msg": message, "type": problem["type"]})
    return JSONResponse(status_code=422, content={"detail": problems})


def describe(predictor: Predictor | OnnxPredictor, source: Path) -> dict[str, Any]:
    """What GET /metadata shows about the model: labels, where it came from, its metrics."""
    if isinstance(predictor, OnnxPredictor):
        info = predictor.metadata
        hparams, metrics = info["model"], info["metrics"]
        attention = "attention" in [output.name for output in predictor.session.get_outputs()]
        extra = {"source_checkpoint": info["source_checkpoint"], "command": info["command"]}
    else:
        hparams, metrics, extra = predictor.model.hparams.get("net"), run_metrics(source), {}
        attention = returns_weights(predictor.model.net)
    return {
        "source": str(source.resolve()),
        "runtime": "onnxruntime" if isinstance(predictor, OnnxPredictor) else "pytorch",
        "class_names": list(
            predictor.names if isinstance(predictor, OnnxPredictor) else predictor.model.class_names
        ),
        "attention": attention,
        "metrics": metrics,
        "model": hparams,
        **extra,
    }


def answer(predictions: list[Prediction], attention: bool) -> dict[str, Any]:
    """One request's response body: a prediction per text, in the order of its texts."""
    left_out = {*NOT_SERVED, *([] if attention else ["attention"])}
    rows = [{k: v for k, v in asdict(p).items() if k not in left_out} for p in predictions]
    return {"predictions": rows}


class TextClassifierAPI(ls.LitAPI):
    """The inference side. `served` ([requests, batches, largest batch]) lives in shared
    memory, so the HTTP process can show what the worker has batched in GET /metadata."""

    def __init__(self, source: Path, max_batch_size: int, batch_timeout: float) -> None:
        # the batched loop even for one request per batch, so `predict` always gets a list
        # (LitServe then warns that batching looks unintended: it is intended)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The LitServer has both batch and unbatch")
            super().__init__(max_batch_size, batch_timeout, loop=BatchedLoop())
        self.source = source
        self.served = multiprocessing.get_context("spawn").Array("q", 3)  # the worker is spawned

    def setup(self, device: str) -> None:
        self.predictor = load_predictor(self.source)

    def decode_request(self, request: PredictRequest) -> PredictRequest:
        return request  # validated in the HTTP process, before it was queued

    def batch(self, inputs: list[PredictRequest]) -> list[PredictRequest]:
        return inputs

    def predict(self, requests: list[PredictRequest]) -> list[dict[str, Any]]:
        """All the requests' texts in one predictor call (it sorts them by length into
        forward passes), split back per request."""
        predictions = self.predictor([text for r in requests for text in r.texts])
        with self.served.get_lock():
            self.served[0] += len(requests)
            self.served[1] += 1
            self.served[2] = max(self.served[2], len(requests))
        answers, start = [], 0
        for request in requests:
            stop = start + len(request.texts)
            answers.append(answer(predictions[start:stop], request.attention))
            start = stop
        return answers

    def unbatch(self, output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return output

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        return output

    def counts(self) -> dict[str, int]:
        requests, batches, largest = self.served[:]
        return {"requests": requests, "batches": batches, "largest_batch": largest}


def build_server(
    source: Path,
    info: dict[str, Any],
    max_batch_size: int = 32,
    batch_timeout: float = 0.01,
    max_body_bytes: int = 4 * 2**20,
) -> ls.LitServer:
    """The LitServer for `source`, with GET /metadata added to LitServe's endpoints."""
    api = TextClassifierAPI(source, max_batch_size, batch_timeout)
    server = ls.LitServer(
        api, accelerator="cpu", max_payload_size=max_body_bytes, middlewares=[JsonBodies]
    )
    server.app.add_exception_handler(RequestValidationError, refuse)
    batching = {
        "max_batch_size": max_batch_size,
        "batch_timeout": batch_timeout,
        "max_texts_per_request": MAX_TEXTS,
        "max_body_bytes": max_body_bytes,
    }

    async def metadata() -> dict[str, Any]:
        return {**info, "batching": batching, "served": api.counts()}

    server.app.add_api_route("/metadata", metadata, methods=["GET"])
    return server


def check_port(host: str, port: int) -> None:
    """Refuse a port that is taken before starting any process (uvicorn would only log it)."""
    try:
        socket.create_server((host, port)).close()
    except OSError as err:
        raise OSError(
            f"cannot listen on {host}:{port} ({err.strerror}): another program (or another "
            "serve.py) uses it. Stop it or choose another --port."
        ) from err


def stop_on_sigterm() -> None:
    """SIGTERM shuts down like Ctrl-C: LitServe then stops its worker and HTTP processes
    (which it ends with SIGTERM itself, hence the default handler again in forked ones)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Serve a checkpoint or an export folder over HTTP (POST /predict).",
        epilog="e.g. python serve.py logs/runs/<run>/checkpoints/last.ckpt --port 8000",
    )
    parser.add_argument("source", type=Path, help="a run's checkpoints/*.ckpt or an export folder")
    parser.add_argument("--host", default="127.0.0.1", choices=HOSTS, help="0.0.0.0: all")
    parser.add_argument("--port", type=int, default=8000, help="1024 to 65535")
    parser.add_argument("--max-batch-size", type=int, default=32, help="requests per batch")
    parser.add_argument(
        "--batch-timeout", type=float, default=0.01, help="seconds to wait for more requests"
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=4 * 2**20, help="larger bodies get 413"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    args = parser.parse_args(argv)
    if not 1024 <= args.port <= 65535:
        parser.exit(2, f"error: --port {args.port}: expected 1024 to 65535.\n")
    if args.max_batch_size < 1 or args.batch_timeout < 0 or args.max_body_bytes < 1:
        shown = f"{args.max_batch_size}, {args.batch_timeout}, {args.max_body_bytes}"
        parser.exit(
            2,
            f"error: --max-batch-size, --batch-timeout, --max-body-bytes = {shown}: expected at "
            "least 1, 0 and 1.\n",
        )
    try:
        info = describe(load_predictor(args.source), args.source)
        check_port(args.host, args.port)
    except (CheckpointError, OSError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    server = build_server(
        args.source, info, args.max_batch_size, args.batch_timeout, args.max_body_bytes
    )
    print(json.dumps({"serving": info["source"], "runtime": info["runtime"]}), flush=True)
    stop_on_sigterm()
    server.run(host=args.host, port=args.port, log_level=args.log_level, generate_client_file=False)
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())


if __name__ == "__main__":  # python -m lstmlab.runs.serve (runs/server_process.py starts it so)
    cli()
