"""Run folder names: readable, `=`-free, and never too long for the file system."""

from lstmlab.runs.resolvers import MAX_NAME_CHARS, suffix


def test_no_overrides_give_no_suffix():
    assert suffix("") == ""


def test_short_overrides_are_kept_whole():
    assert suffix("model-lstm+seed-1") == "_model-lstm+seed-1"


def test_long_overrides_keep_the_values_and_stay_distinct():
    common = "".join(f"+data.setting_number_{i}-{i}" for i in range(8))
    a, b = suffix(f"{common}+model.pooling-last"), suffix(f"{common}+model.pooling-attn")
    assert a != b
    assert len(a) <= MAX_NAME_CHARS + 10
    assert a.startswith("_setting_number_0-0+setting_number_1-1+")
    assert "pooling-last~" in a and "pooling-attn~" in b


def test_values_with_dots_survive_shortening():
    long = "+".join(f"optimizer.option_{i}-1.5e-3" for i in range(12))
    assert "option_0-1.5e-3+option_1-1.5e-3" in suffix(long)


def test_paths_in_values_do_not_create_nested_folders():
    assert (
        suffix("data.pretrained-models/tok.json+seed-1")
        == "_data.pretrained-models_tok.json+seed-1"
    )
