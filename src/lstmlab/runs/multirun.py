"""What a job of a Hydra multirun needs to train as a single run would."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import read_write

DDP_LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def own_ddp_ranks() -> Iterator[None]:
    """Lets each job of a Hydra multirun train with DDP as a single run would.

    Lightning starts the other ranks by re-running the command line with
    `hydra.run.dir=<hydra.run.dir>`: in a multirun that would launch the whole sweep again, into
    other folders, so the job makes the command line its own (its overrides, its folder). The
    launcher also leaves LOCAL_RANK and friends in the environment and the process group open,
    which would make the next job in this process wait for ranks nobody starts: both are undone
    when the job ends.
    """
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        yield
        return
    hydra, argv = HydraConfig.get(), sys.argv
    environment = {key: os.environ.get(key) for key in DDP_LAUNCH_ENV}
    sys.argv = [argv[0], *hydra.overrides.task]
    with read_write(hydra):
        hydra.run.dir = hydra.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
