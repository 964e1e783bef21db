"""`--help` of each entry point: what it does, its common commands, and its own groups and keys
(conf/hydra/help/<entry point>.yaml). Each entry point's main() runs in this process, as its
script shim calls it: the scripts in fresh processes are tested elsewhere (test_train.py, ...)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
from conftest import CONF_DIR

# Groups whose every option train.py's help must name, so that it cannot fall behind conf/.
LISTED_GROUPS = ("data", "model", "optimizer", "scheduler", "trainer", "logger", "experiment")


@pytest.fixture
def help_of(monkeypatch, capsys):
    """`help_of("train.py")`: what `python train.py --help` prints (and exits 0 after)."""

    def shown(script: str) -> str:
        main = importlib.import_module(f"lstmlab.runs.{Path(script).stem}").main
        monkeypatch.setattr(sys, "argv", [script, "--help"])
        monkeypatch.delenv("LSTMLAB_ROOT", raising=False)  # main() sets it, for this test only
        with pytest.raises(SystemExit) as done:
            main()
        assert done.value.code == 0, capsys.readouterr().err[-2000:]
        return capsys.readouterr().out

    return shown


def groups_section(text: str) -> dict[str, str]:
    """The help's "Groups" section: each group's text (its line and those indented under it)."""
    section = text.split("\nGroups (", 1)[1].split("\n\n", 1)[0]
    entries: dict[str, str] = {}
    name = ""
    for line in section.splitlines()[1:]:
        if line.startswith("   "):  # a continuation of the group above
            entries[name] += " " + line.strip()
        else:
            name, _, options = line.strip().partition(" ")
            entries[name] = options.strip()
    return entries


def test_train_help_names_every_group_and_option_and_common_commands(help_of):
    text = help_of("train.py")
    groups = groups_section(text)
    assert {*LISTED_GROUPS, "callbacks", "hparams_search", "hydra/launcher"} <= set(groups)
    for group in LISTED_GROUPS:
        for option in (CONF_DIR / group).glob("*.yaml"):
            assert re.search(rf"\b{option.stem}\b", groups[group]), f"{group}={option.stem}"
    assert groups["callbacks"].startswith("default (") and "model_checkpoint" not in text
    assert "python train.py -m model/pooling=" in text and "--cfg job" in text


@pytest.mark.parametrize(
    ("script", "own", "foreign"),
    [
        ("evaluate.py", ["ckpt_path=<file>", "split=test", "calibrate="], ["experiment", "lm."]),
        ("pretrain.py", ["lm.unlabeled", "lm.cutoffs", "encoder.pt"], ["hparams_search", "split="]),
    ],
)
def test_other_entry_points_explain_their_own_keys_only(help_of, script, own, foreign):
    text = help_of(script)
    assert text.startswith(f"python {script} ")
    for key in own:
        assert key in text
    for key in foreign:
        assert key not in text
