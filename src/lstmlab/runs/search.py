"""An Optuna worker: `python sweep.py hparams_search=optuna [overrides]` (or `lstmlab-sweep`).

A worker opens the study that `search` names (creating it if it is the first), then asks it
for one trial at a time: the trial's values are drawn from `search.params`, the run is
`train.py <overrides> <the trial's values>` in `<search.dir>/trial-<number>` (an ordinary run
folder, so TensorBoard, compare.py and `resume=` work on trials), and the study is told the
run's `optimized_metric`, or that it was pruned or failed. Workers stop when the study has
`search.n_trials` trials completed or pruned; a worker that finds the rest of them running
elsewhere waits while they could still fail (and need running again), so N workers started
anywhere share one study with no barrier and stop at exactly n_trials.

Faults: a run that fails is recorded failed with its error, and the worker goes on. A worker
stopped by Ctrl-C or SIGTERM stops its run (which writes last.ckpt), fails its trial and queues
it again. A worker killed outright (SIGKILL, a lost node) stops its trial's heartbeat; with an
RDB storage the next worker to look fails that trial after `search.grace_period` seconds and
queues it again (`search.retry`). A queued trial resumes from the newest `last.ckpt` of its
earlier tries. Its run gets SIGTERM when its worker dies (Linux), so no run outlives its worker.
"""

from __future__ import annotations

import ctypes
import json
import random
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import optuna
import sqlalchemy.exc
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from lstmlab.io.study_storage import is_rdb, open_storage
from lstmlab.runs import resolvers

TRAIN = resolvers.PROJECT_ROOT / "train.py"
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
COUNTED = (*DONE, TrialState.RUNNING, TrialState.WAITING)  # toward n_trials
OPEN_ATTEMPTS = 5  # workers starting together on a fresh database: all but one lose a race
RACES = (  # what losing the race to create a fresh database's tables or study raises
    sqlalchemy.exc.IntegrityError,
    sqlalchemy.exc.ProgrammingError,
    optuna.exceptions.DuplicatedStudyError,
)
PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


class SearchError(Exception):
    """The search cannot go on (a bad config, or too many failed trials)."""


class TrialFailed(Exception):
    """A trial's run ended without a result."""


class StudyFull(Exception):
    """Workers asked for trials at once, and the study had its n_trials before this one."""


class Stopped(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the trial's run writes last.ckpt and the trial is
    queued again."""


def main(argv: list[str] | None = None) -> int:
    """The worker's command line: Hydra overrides, as train.py takes them (without -m)."""
    args = sys.argv[1:] if argv is None else argv
    resolvers.register()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        search, space = read_search(args)
        study = open_study(search)
        signal.signal(signal.SIGTERM, _stop)
        Worker(study, search, space, args).work()
    except SearchError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        return 143 if isinstance(stop, Stopped) else 130
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())


def read_search(args: list[str]) -> tuple[DictConfig, dict[str, BaseDistribution]]:
    """The `search` node of the composed config and its search space, less the keys `args`
    fix; refuses a config without a search, and a space whose keys the config does not take."""
    if any(arg in ("-m", "--multirun") for arg in args):
        raise SearchError("sweep.py runs trials one by one: drop -m (start more workers).")
    cfg = compose_train(args)
    if cfg.get("search") is None:
        raise SearchError(
            "no search chosen: give one, e.g. python sweep.py hparams_search=optuna "
            "(conf/hparams_search/)."
        )
    search = cfg.search
    fixed = {o.key_or_group.lstrip("+~") for o in OverridesParser.create().parse_overrides(args)}
    space = {
        key: distribution(key, node) for key, node in search.params.items() if key not in fixed
    }
    try:  # every searched key at one of its values: a misspelt key fails here, not per trial
        compose_train([*args, *(as_override(key, first(d)) for key, d in space.items())])
    except HydraException as error:
        raise SearchError(f"search.params does not fit the config: {error}") from None
    return search, space


def distribution(key: str, node: Any) -> BaseDistribution:
    """The Optuna distribution `search.params.<key>` describes, or a SearchError saying how
    to write one."""
    built = instantiate(node) if OmegaConf.is_dict(node) and "_target_" in node else node
    if not isinstance(built, BaseDistribution):
        raise SearchError(
            f"search.params[{key}]={node} is no Optuna distribution: give one as "
            "{_target_: optuna.distributions.FloatDistribution, low: ..., high: ...} "
            "(or IntDistribution, or CategoricalDistribution with choices: [...])."
        )
    return built


def compose_train(args: list[str]) -> DictConfig:
    """conf/train.yaml with `args`, as train.py composes it (a bad override: a SearchError)."""
    try:
        with initialize_config_dir(resolvers.CONFIG_DIR, version_base="1.3"):
            return compose("train", overrides=args)
    except HydraException as error:
        raise SearchError(str(error)) from None


def first(distribution: BaseDistribution) -> Any:
    """A value the distribution can draw: its first choice or its low end."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low


def as_override(key: str, value: Any) -> str:
    """`key=value` as Hydra reads it: `model/pooling=max` picks a group's option,
    `optimizer.lr=0.001` sets a value."""
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else value
    return f"{key}={text}"


def open_study(search: DictConfig) -> optuna.Study:
    """The study `search` names, created by the first worker to get there. Workers started
    together on a fresh database race to create its tables and the study (Optuna's
    `load_if_exists` does not cover the tables): the losers wait a moment and try again."""
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            storage = open_storage(
                search.storage,
                search.heartbeat_interval,
                search.grace_period,
                instantiate(search.retry),
            )
            return optuna.create_study(
                storage=storage,
                study_name=search.study_name,
                direction=search.direction,
                sampler=instantiate(search.sampler),
                pruner=instantiate(search.pruner),
                load_if_exists=True,
            )
        except RACES as error:
            if attempt == OPEN_ATTEMPTS:
                raise SearchError(f"could not open {search.storage}: {error}") from None
            time.sleep(random.uniform(0.2, 1.0) * attempt)
        except sqlalchemy.exc.SQLAlchemyError as error:  # no server, a wrong password, ...
            raise SearchError(f"search.storage={search.storage}: {error}") from None
    raise AssertionError("unreachable")


def suggest(trial: optuna.Trial, key: str, distribution: BaseDistribution) -> Any:
    """The trial's value for `key`, drawn from `distribution` (a queued trial's own value)."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(key, distribution.choices)
    kwargs = {"step": distribution.step, "log": distribution.log}
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(key, distribution.low, distribution.high, **kwargs)
    return trial.suggest_float(key, distribution.low, distribution.high, **kwargs)


class Worker:
    """Runs trials of `study` until it has `search.n_trials`."""

    def __init__(
        self,
        study: optuna.Study,
        search: DictConfig,
        space: dict[str, BaseDistribution],
        args: list[str],
    ) -> None:
        self.study, self.search, self.space, self.args = study, search, space, args
        self.waits = bool(search.heartbeat_interval) and is_rdb(search.storage)  # trials can die
        self.metric = compose_train(args).optimized_metric  # the value the study is told
        self.current: int | None = None  # the number of the trial this worker runs

    def work(self) -> None:
        """Trials until the study is done: run one while one is queued (a trial run again) or
        fewer than n_trials are counted, wait while the last ones run elsewhere (if they can
        die and come back)."""
        while True:
            optuna.storages.fail_stale_trials(self.study)
            states = Counter(t.state for t in self.study.get_trials(deepcopy=False))
            failures = self.failures()
            if sum(states[s] for s in DONE) >= self.search.n_trials:
                print(self.summary(), flush=True)
                return
            if failures >= self.search.max_failures:
                raise SearchError(
                    f"{failures} trials failed (search.max_failures={self.search.max_failures}"
                    f"): the set-up looks broken. Their errors: {self.errors()}"
                )
            queued = states[TrialState.WAITING] > 0  # counted already: someone must run it
            if queued or sum(states[s] for s in COUNTED) < self.search.n_trials:
                self.run_one()
            elif self.waits:
                time.sleep(self.search.heartbeat_interval)
            else:
                print(f"The study's last trials run in other workers. {self.summary()}")
                return

    def run_one(self) -> None:
        """One trial through Optuna (heartbeat, pruned and failed states); a worker stopped
        meanwhile queues its trial again."""
        try:
            self.study.optimize(self.objective, n_trials=1, catch=(Exception,))
        except KeyboardInterrupt:
            self.queue_again()
            raise
        finally:
            self.current = None

    def objective(self, trial: optuna.Trial) -> float:
        values = {key: suggest(trial, key, d) for key, d in self.space.items()}
        self.current = trial.number
        if self.ahead(trial.number) >= self.search.n_trials:
            trial.set_user_attr("not_run", "the study had its n_trials when this trial started")
            raise StudyFull(f"trial {trial.number} not run: the study has its trials")
        folder = self.folder(trial.number)
        trial.set_user_attr("run_folder", str(folder))
        command = [
            sys.executable,
            str(TRAIN),
            *self.args,
            *(as_override(key, value) for key, value in values.items()),
            f"search.trial={trial.number}",
            f"hydra.run.dir='{folder}'",
            *self.resume_from(trial.number),
        ]
        print(f"Trial {trial.number}: {' '.join(command[2:])}", flush=True)
        returncode, error = run(command)
        return self.outcome(trial, folder, returncode, error)

    def outcome(self, trial: optuna.Trial, folder: Path, returncode: int, error: str) -> float:
        """The run's value for the study; a pruned run a `TrialPruned`; a failed one a
        `TrialFailed` whose message (also kept as the trial's `error`) says why."""
        results = folder / "results.json"
        if returncode == 0 and results.is_file():
            saved = json.loads(results.read_text())
            if saved.get("status") == "pruned":
                raise optuna.TrialPruned(f"pruned after epoch {saved.get('epochs')}")
            if self.metric in saved["metrics"]:
                return saved["metrics"][self.metric]
            error = f"{self.metric} is not among the run's metrics ({', '.join(saved['metrics'])})"
        message = f"train.py exited with {returncode}: {error} (see {folder / 'train.log'})"
        trial.set_user_attr("error", message)
        raise TrialFailed(message)

    def ahead(self, number: int) -> int:
        """Trials counted toward n_trials that started before trial `number`."""
        return sum(
            1 for t in self.study.get_trials(deepcopy=False, states=COUNTED) if t.number < number
        )

    def folder(self, number: int) -> Path:
        return Path(self.search.dir) / f"trial-{number:04d}"

    def resume_from(self, number: int) -> list[str]:
        """`ckpt_path=` the newest last.ckpt of the earlier tries of a queued trial."""
        frozen = self.study.get_trials(deepcopy=False)[number]
        for earlier in reversed(RetryHeartbeatStaleTrialCallback.retry_history(frozen)):
            last = self.folder(earlier) / "checkpoints" / "last.ckpt"
            if last.is_file():
                return [f"ckpt_path='{last}'"]
        return []

    def queue_again(self) -> None:
        """Queues this worker's trial again, as a dead worker's is (`search.retry`)."""
        if self.current is None:
            return
        frozen = self.study.get_trials(deepcopy=False)[self.current]
        stopped = not {"not_run", "error"} & set(frozen.user_attrs)  # neither refused nor failed
        if frozen.state == TrialState.FAIL and stopped:
            instantiate(self.search.retry)(self.study, frozen)
            print(f"Trial {frozen.number} stopped; queued to run again from its last.ckpt.")

    def failures(self) -> int:
        return len(self.errors())

    def errors(self) -> list[str]:
        failed = self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        return [t.user_attrs["error"] for t in failed if "error" in t.user_attrs]

    def summary(self) -> str:
        trials = self.study.get_trials(deepcopy=False)
        states = Counter(t.state.name.lower() for t in trials)
        done = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        text = f"Study {self.study.study_name}: {done}."
        if states["complete"]:
            best = self.study.best_trial
            text += (
                f" Best: trial {best.number}, {best.value:.4f} "
                f"({best.user_attrs.get('run_folder')}). Compare the trials: "
                f"python scripts/compare.py {self.search.dir}"
            )
        return text


def run(command: list[str]) -> tuple[int, str]:
    """Runs a trial's `train.py`: its output shown as it comes, its error message returned. A
    worker stopped meanwhile stops the run (it writes last.ckpt) and waits for it."""
    child = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_worker
    )
    try:
        _, stderr = child.communicate()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGTERM)
        child.wait()
        raise
    sys.stderr.write(stderr)
    lines = [
        line for line in stderr.splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line
    ]
    return child.returncode, lines[-1].strip() if lines else "no error message"


def _die_with_worker() -> None:
    """In the run's process before it starts: SIGTERM when the worker dies, even by SIGKILL,
    so the run writes last.ckpt and ends rather than train on unwatched."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped()
