"""Tries bad inputs and faults as a new user and a cluster scheduler would, and grades what
happens: each case is a real `python train.py / evaluate.py / export.py / predict.py /
scripts/compare.py ...` process on tiny synthetic or CSV data in a temporary folder; faults
(SIGTERM, Ctrl-C, a full disk) are real signals and a real tmpfs, set off at a chosen Lightning
hook by a callback the case adds (`probe_hooks.py`, written beside the data).

Grades:
  good  non-zero exit, the expected message, no traceback, the message among the first lines,
        nothing that existed before changed (checksums); or the expected success
  weak  the right outcome, said badly: a traceback, a message that is not the expected one, or
        one printed late (after the config tree)
  bad   exit 0 on bad input, a success that failed or gave a wrong result, a stopped run that
        cannot be continued, or files that existed before changed or lost

    python scripts/probe.py               # every case; exit 1 if any is bad
    python scripts/probe.py -k resume     # the cases whose name holds "resume"
    python scripts/probe.py --workers 2   # two cases at a time
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = [
    "model.encoder.embed_dim=16",
    "model.encoder.hidden_size=16",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "+trainer.enable_model_summary=false",
    "~callbacks.figures",
]
SYNTHETIC = [
    "data=synthetic",
    "data.num_samples=128",
    "data.val_samples=32",
    "data.test_samples=32",
    "data.min_len=5",
    "data.max_len=20",
    "data.batch_size=32",
    *TINY_RUN,
]
LATE_LINES = 25  # a refusal printed after more lines than this comes too late
HOOKS = '''
import os
import pickle
import signal
from pathlib import Path

import lightning as L


class Once(L.Callback):
    """At `hook` (not in the sanity check), once per `marker`: send `signal_name` to this
    process, after filling the disk that holds `fill` if set."""

    def __init__(self, hook: str, marker: str, signal_name: str = "SIGTERM", fill: str = ""):
        self.marker, self.signal_name, self.fill = Path(marker), signal_name, fill
        setattr(self, hook, self._fire)

    def _fire(self, trainer, *args, **kwargs) -> None:
        if trainer.sanity_checking or self.marker.exists():
            return
        self.marker.touch()
        if self.fill:
            with open(self.fill, "wb") as filler:
                try:
                    while True:
                        filler.write(b"\\0" * 65536)
                        filler.flush()
                except OSError:
                    return
        os.kill(os.getpid(), getattr(signal, self.signal_name))
'''
WORDS = {"neg": ["awful", "boring", "dull"], "pos": ["great", "superb", "lovely"]}
FILLER = ["the", "a", "film", "plot", "was", "is", "and", "it"]


@dataclass
class Case:
    name: str
    source: str  # where the case comes from: issue 32's point, its weak list, or beyond
    args: list[str]  # the script, then its arguments; {base} and {case} are folders
    expect: str = "refused"  # refused | ok | stopped (exit 143/130 and a resume line)
    says: str = ""  # what the output must hold
    then: list[str] | None = None  # after "stopped": the command that continues it (exit 0)
    prepare: Callable[[Path, Path], None] | None = None  # (base, case folder)
    check: Callable[[Path, Path, str], str | None] | None = None  # (base, case, output)
    tmpfs: str | None = None  # mount a filesystem this size at {case}/disk


@dataclass
class Outcome:
    case: Case
    grade: str
    note: str
    seconds: float
    output: str = field(repr=False, default="")


# ----------------------------------------------------------------------------- fixtures


def write_csv(path: Path, rows: int, seed: int, labels: tuple[str, ...] = ("neg", "pos")) -> Path:
    rng = random.Random(seed)
    lines = ["text,label"]
    for _ in range(rows):
        label = rng.choice(labels)
        words = rng.choices(FILLER, k=rng.randint(3, 8))
        words.insert(rng.randrange(len(words)), rng.choice(WORDS[label.strip() or "neg"]))
        lines.append(f"{' '.join(words)},{label}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_options(folder: Path, train: str = "train.csv") -> list[str]:
    return [
        "data=text_files",
        f"data.train={folder / train}",
        f"data.test={folder / 'test.csv'}",
        f"data.cache_dir={folder / 'cache'}",
        "data.batch_size=16",
        "data.val_size=0.2",
        *TINY_RUN,
    ]


def run(
    args: list[str], env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def build_fixtures(base: Path) -> None:
    """A finished CSV run (`base/run`), its data (`base/csv`), a one-job sweep with a report
    (`base/sweep`) and the signal hooks: what the cases point at and must leave unchanged."""
    write_csv(base / "csv" / "train.csv", 160, 0)
    write_csv(base / "csv" / "test.csv", 40, 1)
    steps = [
        ["train.py", *csv_options(base / "csv"), f"hydra.run.dir={base / 'run'}"],
        ["train.py", "-m", *SYNTHETIC, "seed=1", f"hydra.sweep.dir={base / 'sweep'}"],
        ["scripts/compare.py", str(base / "sweep")],
    ]
    for args in steps:
        done = run(args)
        if done.returncode != 0:
            sys.exit(
                f"probe: building the fixtures failed: {' '.join(args)}\n{done.stderr[-3000:]}"
            )


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` but the case folders, caches and locks (tiny files)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
        and not {"cases", "cache"} & set(path.relative_to(folder).parts)
        and path.name != "run.lock"
    }


def changed(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """Files lost or changed; a log that only grew (a refusal said why) is neither."""
    return sorted(
        name
        for name, old in before.items()
        if not (name.endswith(".log") and after.get(name, b"").startswith(old))
        and hashlib.sha256(after.get(name, b"-")).digest() != hashlib.sha256(old).digest()
    )


# ----------------------------------------------------------------------------- grading


def stopped_case(name: str, source: str, command: list[str]) -> Case:
    """A run stopped by a signal: its exit code, then the printed resume must finish it."""
    then = ["train.py", "resume={case}/run"]
    return Case(name, source, command, "stopped", then=then, check=has_results)


def hook(
    base: Path, case: Path, at: str, signal_name: str = "SIGTERM", fill: str = ""
) -> list[str]:
    """Overrides that add a callback sending `signal_name` at Lightning hook `at`, once."""
    options = [
        "+callbacks.probe._target_=probe_hooks.Once",
        f"+callbacks.probe.hook={at}",
        f"+callbacks.probe.marker={case / 'fired'}",
        f"+callbacks.probe.signal_name={signal_name}",
    ]
    return options + ([f"+callbacks.probe.fill={fill}"] if fill else [])


def grade(
    case: Case, done: subprocess.CompletedProcess, lost: list[str], base: Path, folder: Path
) -> tuple[str, str]:
    output = done.stdout + done.stderr
    if lost:
        return "bad", f"changed or lost: {', '.join(lost[:3])}"
    if case.expect == "ok":
        if done.returncode != 0:
            return "bad", f"exit {done.returncode}: {last_line(done.stderr)}"
        if case.says and case.says not in output:
            return "bad", f"output lacks {case.says!r}"
        problem = case.check(base, folder, output) if case.check else None
        return ("bad", problem) if problem else ("good", "as expected")
    if case.expect == "stopped":
        if done.returncode not in (130, 143) or "resume=" not in output:
            return "bad", f"exit {done.returncode}, no resume line: {last_line(output)}"
        then = run(fill(case.then or [], base, folder))
        if then.returncode != 0:
            return "bad", f"the continued run failed: {last_line(then.stderr)}"
        problem = case.check(base, folder, output) if case.check else None
        return ("bad", problem) if problem else ("good", f"exit {done.returncode}, continued")
    if done.returncode == 0:
        return "bad", "exit 0 on bad input"
    if "Traceback (most recent call last)" in output:
        return "weak", f"a traceback: {last_line(done.stderr)}"
    if case.says and case.says not in output:
        return "weak", f"lacks {case.says!r}: {last_line(done.stderr)}"
    lines = done.stderr.splitlines()
    at = next((i for i, line in enumerate(lines) if case.says in line), 0)
    if at > LATE_LINES:
        return "weak", f"said late (stderr line {at + 1})"
    return "good", last_line(done.stderr)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:110]


def fill(args: list[str], base: Path, folder: Path) -> list[str]:
    """`args` with {base}, {case} and {best} (the fixture run's best checkpoint) filled in."""
    best = next((base / "run" / "checkpoints").glob("epoch_*.ckpt"), "{best}")
    places = {"{base}": base, "{case}": folder, "{best}": best}
    for name, place in places.items():
        args = [a.replace(name, str(place)) for a in args]
    return args


def try_case(case: Case, base: Path) -> Outcome:
    folder = base / "cases" / case.name
    folder.mkdir(parents=True)
    mounted = False
    if case.tmpfs:
        (folder / "disk").mkdir()
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={case.tmpfs}", "tmpfs", str(folder / "disk")]
            ).returncode
            == 0
        )
        if not mounted:
            return Outcome(case, "skip", "cannot mount a tmpfs (needs root)", 0.0)
    try:
        if case.prepare:
            case.prepare(base, folder)
        before, started = contents(base), time.monotonic()
        try:
            done = run(fill(case.args, base, folder))
        except subprocess.TimeoutExpired:
            return Outcome(case, "bad", "timed out", time.monotonic() - started)
        (folder / "output.txt").write_text(done.stdout + done.stderr)  # kept with --keep
        verdict, note = grade(case, done, changed(before, contents(base)), base, folder)
        return Outcome(case, verdict, note, time.monotonic() - started, done.stdout + done.stderr)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder / "disk")])


# ----------------------------------------------------------------------------- the cases


def csv_case(
    name: str, source: str, rows: str, says: str, expect: str = "refused", check=None
) -> Case:
    """A run on a CSV training file of `rows` (a text prepared in the case's folder)."""

    def prepare(base: Path, folder: Path) -> None:
        shutil.copy(base / "csv" / "test.csv", folder / "test.csv")
        (folder / "train.csv").write_bytes(rows.encode("latin-1"))

    return Case(
        name,
        source,
        ["train.py", *csv_options(Path("{case}")), "hydra.run.dir={case}/run"],
        expect,
        says,
        prepare=prepare,
        check=check,
    )


def many(label: str, count: int = 40) -> str:
    return "".join(
        f"{random.Random(i).choice(FILLER)} {w} film,{label}\n"
        for i in range(count)
        for w in WORDS[label.strip() or "neg"][:1]
    )


def export_metrics(base: Path, folder: Path, output: str) -> str | None:
    meta = json.loads((folder / "export" / "metadata.json").read_text())
    best = json.loads((base / "run" / "results.json").read_text())["metrics"].get("test/loss")
    if meta.get("metrics", {}).get("test/loss") == best:
        return "last.ckpt's export claims the best checkpoint's test loss"
    return None


def has_results(base: Path, folder: Path, output: str) -> str | None:
    results = folder / "run" / "results.json"
    return None if results.is_file() else f"no {results} after the continued run"


def no_none_saved(base: Path, folder: Path, output: str) -> str | None:
    return "says: best checkpoint: (none saved)" if "(none saved)" in output else None


def copy_sweep_cut_short(base: Path, folder: Path) -> None:
    shutil.copytree(base / "sweep", folder / "sweep")
    results = next((folder / "sweep").rglob("results.json"))
    results.write_text(results.read_text()[:40])


def not_a_run(base: Path, folder: Path) -> None:
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.txt").write_text("not a run\n")


def text_file_ckpt(base: Path, folder: Path) -> None:
    (folder / "fake.ckpt").write_text("this is not a checkpoint\n")


def malicious_pickle(base: Path, folder: Path) -> None:
    """A checkpoint whose unpickling would run a shell command (it must not run)."""
    (folder / "evil.ckpt").write_bytes(pickle.dumps(Evil(f"touch {folder / 'pwned'}")))


class Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def not_pwned(base: Path, folder: Path, output: str) -> str | None:
    return "the pickle's code ran" if (folder / "pwned").exists() else None


def config_dir(base: Path, folder: Path) -> None:
    (folder / "conf" / "data").mkdir(parents=True)
    (folder / "conf" / "data" / "held_x.yaml").write_text(
        "defaults:\n  - synthetic\n  - _self_\nnum_samples: 128\n"
    )


RUN, LAST, BEST = "{base}/run", "{base}/run/checkpoints/last.ckpt", "{best}"
SIG = ["train.py", *SYNTHETIC, "trainer.max_epochs=2", "hydra.run.dir={case}/run"]


def cases(base: Path) -> list[Case]:
    c = Path("{case}")
    return [
        # issue 32, bad 1-10
        Case(
            "1_new_run_into_finished_run",
            "issue 1",
            ["train.py", *SYNTHETIC, f"hydra.run.dir={RUN}"],
            says="holds another run's work",
        ),
        Case(
            "2_evaluate_into_training_run",
            "issue 2",
            ["evaluate.py", f"ckpt_path={BEST}", f"hydra.run.dir={RUN}"],
            says="holds another run's work",
        ),
        Case(
            "3_export_force_into_checkpoints",
            "issue 3",
            ["export.py", LAST, "--out", f"{RUN}/checkpoints", "--force"],
            says="--force",
        ),
        Case(
            "3_export_force_into_run",
            "issue 3",
            ["export.py", LAST, "--out", RUN, "--force"],
            says="--force",
        ),
        Case(
            "4_other_sweep_into_sweep_dir",
            "issue 4",
            [
                "train.py",
                "-m",
                *SYNTHETIC,
                "seed=1",
                "data.batch_size=16",
                "hydra.sweep.dir={base}/sweep",
            ],
            says="holds another sweep",
        ),
        stopped_case(
            "5_sigterm_in_validation", "issue 5", [*SIG, *hook(base, c, "on_validation_start")]
        ),
        stopped_case("6_sigterm_in_testing", "issue 6", [*SIG, *hook(base, c, "on_test_start")]),
        Case(
            "7_resume_other_pooling",
            "issue 7",
            ["train.py", f"resume={RUN}", "model/pooling=mean"],
            says="differ from its own",
        ),
        Case(
            "7_resume_other_data_and_lr",
            "issue 7",
            ["train.py", f"resume={RUN}", "data.val_size=0.3", "optimizer.lr=0.5"],
            says="optimizer.lr",
        ),
        csv_case(
            "8_label_with_trailing_space",
            "issue 8",
            "text,label\n" + many("neg ", 30) + many("neg", 30) + many("pos", 60),
            "2 classes in train",
            "ok",
        ),
        csv_case(
            "8_empty_label_cells",
            "issue 8",
            "text,label\n" + many("neg") + many("pos") + "a film,\n",
            "have no label",
        ),
        Case(
            "9_export_last_ckpt_metadata",
            "issue 9",
            ["export.py", LAST, "--out", "{case}/export"],
            "ok",
            check=export_metrics,
        ),
        Case(
            "10_resume_config_dir_run",
            "issue 10",
            [
                "train.py",
                "--config-dir",
                "{case}/conf",
                "data=held_x",
                *SYNTHETIC[1:],
                "trainer.max_epochs=2",
                "hydra.run.dir={case}/run",
                *hook(base, c, "on_train_epoch_end"),
            ],
            "stopped",
            then=["train.py", "resume={case}/run"],
            prepare=config_dir,
            check=has_results,
        ),
        # issue 32, weak
        Case(
            "w_lr_zero", "weak", ["train.py", *SYNTHETIC, "optimizer.lr=0"], says="optimizer.lr=0"
        ),
        Case(
            "w_adam_lr_huge",
            "weak",
            [
                "train.py",
                *SYNTHETIC,
                "optimizer.lr=1e6",
                "trainer.max_epochs=3",
                "hydra.run.dir={case}/run",
            ],
            says="diverge",
        ),
        Case(
            "w_monitor_typo",
            "weak",
            ["train.py", *SYNTHETIC, "callbacks.early_stopping.monitor=val/acc_typo"],
            says="callbacks.early_stopping.monitor=val/acc_typo",
        ),
        Case(
            "w_checkpoint_monitor_typo",
            "weak",
            ["train.py", *SYNTHETIC, "callbacks.model_checkpoint.monitor=val/los"],
            says="val/loss",
        ),
        Case(
            "w_nan_at_step_2",
            "weak",
            ["train.py", *SYNTHETIC, "optimizer.lr=1e30", "hydra.run.dir={case}/run"],
            says="diverged",
        ),
        csv_case(
            "w_latin1_byte_in_csv",
            "weak",
            "text,label\n" + many("neg") + "caf\xe9 film,pos\n" + many("pos"),
            "data.encoding",
        ),
        Case(
            "w_cut_short_results_in_sweep",
            "weak",
            ["scripts/compare.py", "{case}/sweep"],
            "ok",
            says="unreadable",
            prepare=copy_sweep_cut_short,
        ),
        Case(
            "w_disk_full_after_testing",
            "weak",
            [
                "train.py",
                *SYNTHETIC,
                "hydra.run.dir={case}/disk/run",
                *hook(base, c, "on_test_end", fill="{case}/disk/filler"),
            ],
            says="No space left on device",
            tmpfs="8m",
        ),
        csv_case(
            "w_missing_column",
            "weak",
            "body,label\n" + many("neg") + many("pos"),
            "has no column 'text'",
        ),
        Case(
            "w_data_train_unset",
            "weak",
            ["train.py", "data=text_files", *TINY_RUN],
            says="data.train is not set",
        ),
        Case(
            "w_compare_metric_typo",
            "weak",
            ["scripts/compare.py", "{base}/sweep", "--metric", "val/acc_bset"],
            says="did you mean val/acc_best",
        ),
        Case(
            "w_evaluate_summary",
            "new user",
            ["evaluate.py", f"ckpt_path={BEST}", "hydra.run.dir={case}/eval"],
            "ok",
            check=no_none_saved,
        ),
        Case(
            "w_readme_evaluate_data_path",
            "new user",
            ["evaluate.py", f"ckpt_path={BEST}", "+data.path=/nonexistent"],
            says="/nonexistent",
        ),
        # beyond the list
        Case(
            "b_batch_size_abc",
            "beyond",
            ["train.py", *SYNTHETIC, "data.batch_size=abc"],
            says="data.batch_size='abc'",
        ),
        Case(
            "b_max_epochs_ten",
            "beyond",
            ["train.py", *SYNTHETIC, "trainer.max_epochs=ten"],
            says="trainer.max_epochs",
        ),
        Case(
            "b_seed_abc", "beyond", ["train.py", *SYNTHETIC, "seed=abc"], says="expected an integer"
        ),
        Case(
            "b_unknown_key", "beyond", ["train.py", *SYNTHETIC, "model.poolin=attn"], says="poolin"
        ),
        Case(
            "b_unknown_top_level_key",
            "beyond",
            ["train.py", *SYNTHETIC, "+modle=bilstm"],
            says="did you mean model",
        ),
        Case(
            "b_old_pooling_spelling",
            "beyond",
            ["train.py", *SYNTHETIC, "model.pooling=max"],
            says="model/pooling=max",
        ),
        Case(
            "b_unknown_pooling",
            "beyond",
            ["train.py", *SYNTHETIC, "model/pooling=first"],
            says="model/pooling",
        ),
        Case(
            "b_missing_ckpt_path",
            "beyond",
            ["train.py", *SYNTHETIC, "ckpt_path={case}/nope.ckpt"],
            says="nope.ckpt",
        ),
        Case(
            "b_text_file_as_ckpt",
            "beyond",
            ["predict.py", "{case}/fake.ckpt", "a film"],
            says="fake.ckpt",
            prepare=text_file_ckpt,
        ),
        Case(
            "b_malicious_pickle_evaluate",
            "beyond",
            ["evaluate.py", "ckpt_path={case}/evil.ckpt"],
            says="evil.ckpt",
            prepare=malicious_pickle,
            check=not_pwned,
        ),
        Case(
            "b_malicious_pickle_predict",
            "beyond",
            ["predict.py", "{case}/evil.ckpt", "a film"],
            says="evil.ckpt",
            prepare=malicious_pickle,
        ),
        Case(
            "b_ckpt_of_another_dataset",
            "beyond",
            ["train.py", *SYNTHETIC, f"ckpt_path={LAST}"],
            says="checkpoint",
        ),
        csv_case("b_empty_csv", "beyond", "", "is empty"),
        csv_case("b_header_only_csv", "beyond", "text,label\n", "no rows"),
        csv_case("b_one_class_csv", "beyond", "text,label\n" + many("neg", 80), "single class"),
        csv_case(
            "b_semicolon_csv",
            "beyond",
            "text;label\n" + many("neg").replace(",", ";") + many("pos").replace(",", ";"),
            "data.delimiter",
        ),
        Case(
            "b_resume_not_a_run",
            "beyond",
            ["train.py", "resume={case}/notes"],
            says="notes",
            prepare=not_a_run,
        ),
        Case("b_resume_missing_folder", "beyond", ["train.py", "resume={case}/gone"], says="gone"),
        Case(
            "b_predict_missing_ckpt",
            "beyond",
            ["predict.py", "{case}/nope.ckpt", "a film"],
            says="nope.ckpt",
        ),
        Case(
            "b_export_missing_ckpt", "beyond", ["export.py", "{case}/nope.ckpt"], says="nope.ckpt"
        ),
        Case(
            "b_export_into_foreign_folder",
            "beyond",
            ["export.py", LAST, "--out", "{case}/notes"],
            says="notes",
            prepare=not_a_run,
        ),
        Case(
            "b_compare_not_a_sweep",
            "beyond",
            ["scripts/compare.py", "{case}/notes"],
            says="notes",
            prepare=not_a_run,
        ),
        Case("b_evaluate_without_ckpt", "beyond", ["evaluate.py"], says="ckpt_path"),
        Case(
            "b_batch_size_zero",
            "beyond",
            ["train.py", *SYNTHETIC, "data.batch_size=0"],
            says="data.batch_size=0",
        ),
        Case(
            "b_negative_lr",
            "beyond",
            ["train.py", *SYNTHETIC, "optimizer.lr=-1"],
            says="optimizer.lr=-1",
        ),
        Case(
            "b_max_epochs_zero",
            "beyond",
            ["train.py", *SYNTHETIC, "trainer.max_epochs=0"],
            says="trainer.max_epochs=0",
        ),
        Case(
            "b_unknown_encoding",
            "beyond",
            ["train.py", *csv_options(base / "csv"), "data.encoding=latin-9x"],
            says="data.encoding",
        ),
        stopped_case("b_sigterm_mid_epoch", "beyond", [*SIG, *hook(base, c, "on_train_batch_end")]),
        stopped_case(
            "b_ctrl_c_mid_epoch", "beyond", [*SIG, *hook(base, c, "on_train_batch_end", "SIGINT")]
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-k", default="", help="only the cases whose name holds this")
    parser.add_argument("--workers", type=int, default=2, help="cases run at once")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--show", default="", help="print the output of the cases whose name holds this"
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="probe-"))
    use_base(base)
    started = time.monotonic()
    build_fixtures(base)
    chosen = [case for case in cases(base) if args.k in case.name]
    print(f"{'case':36} {'from':9} {'grade':5} {'s':>4}  note", flush=True)
    outcomes = []
    with ThreadPoolExecutor(args.workers) as pool:
        for o in pool.map(lambda case: try_case(case, base), chosen):  # in order, as they end
            print(f"{o.case.name:36} {o.case.source:9} {o.grade:5} {o.seconds:4.0f}  {o.note}")
            if args.show and args.show in o.case.name:
                print(o.output[-4000:])
            sys.stdout.flush()
            outcomes.append(o)
    counts = {g: sum(o.grade == g for o in outcomes) for g in ("good", "weak", "bad", "skip")}
    print(
        f"{len(outcomes)} cases in {time.monotonic() - started:.0f} s: "
        + ", ".join(f"{n} {g}" for g, n in counts.items())
    )
    if args.keep:
        print(f"cases' folders and outputs: {base}/cases/<case>/output.txt")
    else:
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(1 if counts["bad"] else 0)


ENV: dict[str, str] = {}  # the cases' environment: use_base


def use_base(base: Path) -> None:
    """Cases run with `base` on the Python path (its probe_hooks.py), warnings and Hydra's
    full tracebacks off, as a user sees them."""
    (base / "probe_hooks.py").write_text(HOOKS)
    ENV.clear()
    ENV.update(
        os.environ,
        HYDRA_FULL_ERROR="0",
        PYTHONWARNINGS="ignore",
        PYTHONPATH=os.pathsep.join([str(base), os.environ.get("PYTHONPATH", "")]),
    )


if __name__ == "__main__":
    main()
