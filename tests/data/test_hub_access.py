"""Reaching the Hub (hub_access.py): one request, then a reason, when it cannot give a dataset;
with HF_HUB_OFFLINE=1 no request at all. The Hub is a fake one on loopback (conftest.fake_hub)."""

from __future__ import annotations

import socket

import datasets
import huggingface_hub
import pytest

from lstmlab.data.hub_access import HubUnavailableError, load_from_hub


@pytest.fixture
def load_dataset_calls(monkeypatch) -> list[str]:
    """Names `datasets.load_dataset` was asked for; it answers as offline `datasets` does."""
    calls = []

    def offline_load_dataset(name, *args, **kwargs):
        calls.append(name)
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline_load_dataset)
    return calls


def dataset_requests(hub) -> list[str]:
    """The requests about datasets (huggingface_hub also asks the Hub about other things)."""
    return [r for r in hub.requests if "/datasets/" in r]


def test_a_hub_that_fails_is_asked_once_and_no_download_is_tried(fake_hub, load_dataset_calls):
    with pytest.raises(HubUnavailableError, match="the Hub answered HTTP 503 for 'owner/data'"):
        load_from_hub("owner/data")
    assert dataset_requests(fake_hub) == ["GET /api/datasets/owner/data"]  # one, no retries
    assert load_dataset_calls == []


def test_a_dataset_the_hub_does_not_have_is_named(fake_hub, load_dataset_calls):
    fake_hub.status, fake_hub.error_code = 404, "RepoNotFound"
    with pytest.raises(HubUnavailableError, match="the Hub has no dataset 'owner/typo'"):
        load_from_hub("owner/typo")
    assert len(dataset_requests(fake_hub)) == 1 and load_dataset_calls == []


def test_an_unreachable_hub_is_said_to_be_unreachable(fake_hub, monkeypatch, load_dataset_calls):
    with socket.socket() as sock:  # a port nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", closed)
    with pytest.raises(HubUnavailableError, match=rf"the Hub \({closed}\) cannot be reached"):
        load_from_hub("owner/data")
    assert load_dataset_calls == []


def test_offline_nothing_is_asked_and_the_cache_is_named(load_dataset_calls):
    # HF_HUB_OFFLINE=1 (conftest): only the Hugging Face cache can answer
    with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE is set, so only the Hugging"):
        load_from_hub("owner/data")
    assert load_dataset_calls == ["owner/data"]
