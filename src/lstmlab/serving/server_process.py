"""`serve.py` as a child process, for scripts and tests that need a live server: started on a
free loopback port, ready once GET /health answers 200, stopped with all its processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.create_server((HOST, 0)) as probe:
        return probe.getsockname()[1]


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_server(
    source: str | Path, *options: str, log: IO | None = None, startup_s: float = 300
) -> Iterator[str]:
    """`serve.py SOURCE OPTIONS` on a free port of 127.0.0.1; yields its base URL once the
    model is loaded. Its output goes to `log` (default: discarded). On exit it gets SIGTERM
    (LitServe's own shutdown), and its process group SIGKILL if it has not ended in 60 s."""
    port = free_port()
    command = [sys.executable, "-m", "lstmlab.serving.serve", str(source), "--port", str(port)]
    process = subprocess.Popen(
        [*command, *options],
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the workers are stopped with it
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while not is_ready(url):
            if process.poll() is not None:
                raise RuntimeError(f"serve.py exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"serve.py did not answer {url}/health in {startup_s} s")
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
