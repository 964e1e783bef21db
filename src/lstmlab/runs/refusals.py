"""Refusals whose message is all a user needs, printed without a traceback.

A run that stops because its data cannot be found or reached (no network, no local copy, a
dataset name that does not exist) says where it looked and how to fix it; the traceback Hydra
prints with any other error (40 lines for an unreachable Hub) would bury that. Hydra prints a
`CompactHydraException` as its message alone and still exits with status 1, so such errors are
re-raised as one. `HYDRA_FULL_ERROR=1` shows the whole chain as usual.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import CompactHydraException, InstantiationException
from omegaconf.errors import MissingMandatoryValue

from lstmlab.data.hub_access import DataUnavailableError


class Refusal(CompactHydraException):
    """An error Hydra prints as its message alone."""


REFUSED = "_refused_input"  # set on an error `checking_input` let through


INPUT_ERRORS = (ValueError, TypeError, OSError, MissingMandatoryValue, InstantiationException)


@contextmanager
def said_in_full(*errors: type[BaseException]) -> Iterator[None]:
    """Errors of these types whose message is all a user needs: `without_traceback` prints it
    alone. The error itself passes unchanged, so code that calls the run (tests) still sees it."""
    try:
        yield
    except errors as error:
        setattr(error, REFUSED, True)
        raise


def checking_input() -> contextlib.AbstractContextManager[None]:
    """Around the part of a run that reads its settings and data, before any training: an
    error there (a missing column, `data.train` unset, a bad value) is a refusal of the input."""
    return said_in_full(*INPUT_ERRORS)


@contextmanager
def without_traceback() -> Iterator[None]:
    """Around an entry point's work: data that cannot be found, and input refused before any
    training (`checking_input`), end the run with its message."""
    try:
        yield
    except DataUnavailableError as error:
        raise Refusal(f"Error: {error}") from error
    except Exception as error:
        if not getattr(error, REFUSED, False):
            raise
        raise Refusal(f"Error: {refusal_message(error)}") from error


def refusal_message(error: BaseException) -> str:
    """What the user needs from a refusal: Hydra's wrapper unwrapped, an unset key named."""
    if isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, MissingMandatoryValue):
        return (
            f"{error.full_key} is not set (it has no default): give it, e.g. {error.full_key}=..."
        )
    return f"{type(error).__name__}: {error}" if isinstance(error, TypeError) else str(error)
