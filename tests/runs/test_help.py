"""`--help` of each entry point: what it does, its common commands, and its own groups and keys
(conf/hydra/help/<entry point>.yaml)."""

from __future__ import annotations

import re

import pytest
from conftest import CONF_DIR, run_script

# Groups whose every option train.py's help must name, so that it cannot fall behind conf/.
LISTED_GROUPS = ("data", "model", "optimizer", "scheduler", "trainer", "logger", "experiment")


def help_of(script: str) -> str:
    result = run_script(script, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_train_help_names_every_group_and_option_and_common_commands():
    text = help_of("train.py")
    for group in (*LISTED_GROUPS, "callbacks", "hparams_search", "hydra/launcher"):
        assert re.search(rf"^  {re.escape(group)} ", text, re.MULTILINE), group
    for group in LISTED_GROUPS:
        for option in (CONF_DIR / group).glob("*.yaml"):
            assert re.search(rf"\b{option.stem}\b", text), f"{group}={option.stem}"
    assert "callbacks       default (" in text and "model_checkpoint" not in text
    assert "python train.py -m model.pooling=" in text and "--cfg job" in text


@pytest.mark.parametrize(
    ("script", "own", "foreign"),
    [
        ("evaluate.py", ["ckpt_path=<file>", "split=test", "+data.<key>="], ["experiment", "lm."]),
        ("pretrain.py", ["lm.unlabeled", "lm.cutoffs", "encoder.pt"], ["hparams_search", "split="]),
    ],
)
def test_other_entry_points_explain_their_own_keys_only(script, own, foreign):
    text = help_of(script)
    assert text.startswith(f"python {script} ")
    for key in own:
        assert key in text
    for key in foreign:
        assert key not in text
