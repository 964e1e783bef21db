"""Downloading from the Hugging Face Hub without the long wait when it cannot be reached.

`datasets.load_dataset` retries an unreachable Hub six times (about 24 s, every attempt
logged twice) and then fails with a chained traceback. `load_from_hub` asks the Hub once, with
a short timeout, whether the dataset is there, and raises `HubUnavailableError` with the
reason when it is not: an offline run stops at once. With `HF_HUB_OFFLINE=1` nothing is asked;
`load_dataset` then reads only the Hugging Face cache, which is instant either way.
"""

from __future__ import annotations

import datasets
import huggingface_hub
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

HUB_TIMEOUT_S = 10  # one request; the Hub answers in well under a second when it is there


class DataUnavailableError(FileNotFoundError):
    """No copy of the data can be found or reached. The message says where was looked and
    how to fix it, so entry points print it alone, without a traceback (runs/refusals.py)."""


class HubUnavailableError(DataUnavailableError):
    """The Hub cannot give this dataset now: offline, unreachable, or no such dataset."""


def load_from_hub(name: str, config: str | None = None) -> datasets.DatasetDict:
    """`datasets.load_dataset(name, config)`, failing at once when the Hub cannot serve it."""
    offline = huggingface_hub.is_offline_mode()
    if not offline:
        problem = hub_problem(name)
        if problem is not None:
            raise HubUnavailableError(problem)
    try:
        return datasets.load_dataset(name, config)
    except ConnectionError as err:
        if not offline:
            raise
        raise HubUnavailableError(
            f"{type(err).__name__}: {err}; HF_HUB_OFFLINE is set, so only the Hugging Face "
            f"cache ({datasets.config.HF_DATASETS_CACHE}) was looked in"
        ) from err


def hub_problem(name: str) -> str | None:
    """Why the Hub cannot give the dataset `name` now (one request), or None when it can."""
    try:
        huggingface_hub.HfApi().dataset_info(name, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:
        return (
            f"the Hub has no dataset '{name}' (check the spelling, owner/name; a private or "
            "gated one needs `hf auth login`)"
        )
    except HfHubHTTPError as err:
        return f"the Hub answered HTTP {err.response.status_code} for '{name}'"
    except Exception as err:  # DNS, refused connection, timeout, proxy: all mean "not reachable"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return (
            f"the Hub ({huggingface_hub.constants.ENDPOINT}) cannot be reached: "
            f"{type(err).__name__} {reason}".strip()
        )
    return None
