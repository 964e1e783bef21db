"""Hydra finds sweepers in the `hydra_plugins` package: this one is lstmlab's grid sweeper
(conf/hydra/sweeper/grid.yaml), Hydra's basic sweeper that continues a sweep re-run into its
own folder (lstmlab/runs/grid_sweep.py)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from lstmlab.runs import grid_sweep

log = logging.getLogger(__name__)


class GridSweeper(BasicSweeper):
    """`BasicSweeper` whose jobs keep their numbers when some of them are skipped."""

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        jobs = self.split_arguments(overrides, None)[0]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        plan = grid_sweep.plan(sweep_dir, jobs, list(self.config.hydra.overrides.task))
        if plan.summary is None:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.config, sweep_dir / grid_sweep.RECORD)
        else:
            log.info(plan.summary)
        self.overrides = [[]]  # is_done() reads it
        returns = []
        for first, count in grid_sweep.contiguous(plan.run, self.max_batch_size):
            batch = jobs[first : first + count]
            tic = time.perf_counter()
            self.validate_batch_is_legal(batch)
            log.debug(f"Validated {len(batch)} jobs in {time.perf_counter() - tic:.2f} s")
            results = self.launcher.launch(batch, initial_job_idx=first)
            for result in results:
                _ = result.return_value  # raises a failed job's exception, as Hydra's does
            returns.append(results)
        return returns
