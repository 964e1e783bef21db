"""Refusals whose message is all a user needs, printed without a traceback.

A run that stops because its data cannot be found or reached (no network, no local copy, a
dataset name that does not exist) says where it looked and how to fix it; the traceback Hydra
prints with any other error (40 lines for an unreachable Hub) would bury that. Hydra prints a
`CompactHydraException` as its message alone and still exits with status 1, so such errors are
re-raised as one. `HYDRA_FULL_ERROR=1` shows the whole chain as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import CompactHydraException

from lstmlab.data.hub_access import DataUnavailableError


class Refusal(CompactHydraException):
    """An error Hydra prints as its message alone."""


@contextmanager
def without_traceback() -> Iterator[None]:
    """Around an entry point's work: data that cannot be found ends the run with its message."""
    try:
        yield
    except DataUnavailableError as error:
        raise Refusal(f"Error: {error}") from error
