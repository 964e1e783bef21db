"""TensorBoard figures: attention and integrated-gradient heat-maps each epoch; confusion
matrix, PR curves and reliability diagram at test."""

from __future__ import annotations

import pytest
import torch
from conftest import CONF_DIR
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lstmlab.callbacks import figures
from lstmlab.callbacks.figures import attention_figure, confusion_figure, reliability_figure
from lstmlab.runs.train import train


def logged(run_dir) -> tuple[dict[str, int], set[str]]:
    """Images per tag and the tensor tags (PR curves) over a run's event files: Lightning
    starts a new file when the test stage reopens the logger."""
    images: dict[str, int] = {}
    tensors: set[str] = set()
    for path in run_dir.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path), size_guidance={"images": 0, "tensors": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["images"]:
            images[tag] = images.get(tag, 0) + len(accumulator.Images(tag))
        tensors.update(accumulator.Tags()["tensors"])
    return images, tensors


@pytest.mark.slow
def test_a_training_run_logs_attention_confusion_and_pr_curves(text_run):
    images, tensors = logged(text_run["dir"])
    epochs = text_run["results"]["epochs"]
    for kind in ("attention", "integrated_gradients"):  # each text its own image, each epoch
        assert {tag: n for tag, n in images.items() if f"/{kind}" in tag} == {
            f"val/{kind}/{i}": epochs for i in range(4)
        }
    assert images["test/confusion_matrix"] == images["test/reliability"] == 1
    assert {"test/pr_curve/neg", "test/pr_curve/pos"} <= tensors


def test_figures_and_scalars_share_one_x_axis_the_global_step(text_run):
    """An epoch's attention map sits at the step of that epoch's validation metrics, and the
    test figures, PR curves and metrics at the last one; no `epoch` scalar counts on."""
    steps: dict[str, list[int]] = {}
    for path in text_run["dir"].glob("events.out.tfevents.*"):
        events = EventAccumulator(str(path), size_guidance={"images": 0, "tensors": 0}).Reload()
        for kind, read in (("images", events.Images), ("scalars", events.Scalars)):
            for tag in events.Tags()[kind]:
                steps.setdefault(tag, []).extend(e.step for e in read(tag))
        for tag in events.Tags()["tensors"]:
            steps.setdefault(tag, []).extend(e.step for e in events.Tensors(tag))
    epochs = text_run["results"]["epochs"]
    per_epoch = steps["train/acc"][0]  # the optimiser steps of one epoch
    assert sorted(steps["val/acc"]) == [per_epoch * (e + 1) for e in range(epochs)]
    assert sorted(steps["val/attention/0"]) == sorted(steps["val/acc"])
    last = steps["val/acc"][-1]
    assert (
        steps["test/acc"] == steps["test/confusion_matrix"] == steps["test/pr_curve/pos"] == [last]
    )
    assert "epoch" not in steps


def test_figures_draw_every_token_of_each_text_on_one_scale_and_label_every_class():
    rows = [(["a", "b"], torch.tensor([0.3, 0.7]), "one"), (["c"] * 25, torch.ones(25) / 90, "two")]
    figure = attention_figure(rows, per_line=10)
    first, second, bar = figure.axes
    assert [t.get_text() for t in first.texts] == ["a", "b"]
    assert len(second.texts) == 25 and second.images[0].get_array().shape == (3, 10)
    assert first.images[0].get_clim() == second.images[0].get_clim() == pytest.approx((0, 0.7))
    assert bar.get_xlabel() == "attention weight"  # its colour bar
    matrix = confusion_figure(torch.tensor([[5, 1], [2, 7]]), ["neg", "pos"])
    texts = {t.get_text() for t in matrix.axes[0].texts}
    assert {"5", "1", "2", "7"} <= texts


@pytest.mark.slow
def test_a_model_without_attention_gets_integrated_gradients_only(tiny_cfg, tmp_path):
    train(tiny_cfg("model=bilstm_max", "trainer.max_epochs=2", "callbacks.figures.num_texts=2"))
    images, _ = logged(tmp_path)
    assert images["val/integrated_gradients/0"] == images["val/integrated_gradients/1"] == 2
    assert not [tag for tag in images if "attention" in tag]


# TensorBoard 2.21's image card at 1366 px (webfiles.zip's CSS): the grid's columns are at least
# 335 px wide, the image card pads 16 px a side and leaves the image about 215 px of the card's
# 320; the image is scaled to fit that box ("object-fit: contain") whatever its own size.
CARD_BOX = (335 - 2 * 16, 215)


def test_a_heat_map_shows_its_words_at_10_px_or_more_in_tensorboards_default_card():
    tokens = [f"word{i}" for i in range(30)]  # max_tokens' default: a text one prefers to draw
    figure = attention_figure([(tokens, torch.rand(30), "true pos, predicted pos (0.93)")])
    width, height = figure.get_size_inches() * figure.dpi
    shown = min(CARD_BOX[0] / width, CARD_BOX[1] / height)  # the card's scale
    words = [t for ax in figure.axes for t in ax.texts]
    assert len(words) == 30
    assert min(t.get_fontsize() for t in words) * figure.dpi / 72 * shown >= 10


def test_short_texts_are_drawn_first_then_the_shortest_others():
    """IMDB has few reviews under `max_tokens`: the rest are the shortest, not the first."""
    dataset = [(torch.ones(n, dtype=torch.long), torch.tensor(0)) for n in (90, 0, 8, 40, 300, 12)]
    picked = figures.TensorBoardFigures(num_texts=4, max_tokens=10)._pick_examples(dataset)
    assert [len(ids) for ids, _ in picked] == [8, 12, 40, 90]


def test_signed_strips_centre_zero_and_the_reliability_diagram_counts_every_example():
    rows = [(["a", "b", "c"], torch.tensor([-0.5, 0.1, 0.25]), "ig")]
    image = attention_figure(rows, signed=True).axes[0].images[0]
    assert image.get_clim() == (-0.5, 0.5) and image.get_cmap().name == "RdBu_r"
    both = attention_figure([rows[0], rows[0]], signed=[False, True]).axes
    assert [ax.images[0].get_cmap().name for ax in both[:2]] == ["Reds", "RdBu_r"]
    assert len(both) == 4  # a colour bar per kind
    probabilities = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    title = reliability_figure(probabilities, torch.tensor([0, 0, 0])).axes[0].get_title()
    assert "3 examples" in title and "ECE" in title


def test_integrated_gradients_are_drawn_when_captum_is_there_and_asked_for_loudly_only(
    monkeypatch, recwarn
):
    """The default config runs on the base install without a warning; asking for them
    (`attributions=true`) without Captum warns."""
    default = OmegaConf.load(CONF_DIR / "callbacks" / "figures.yaml").figures
    monkeypatch.setattr(figures.importlib.util, "find_spec", lambda name: None)  # no Captum
    assert not instantiate(default).attributions
    assert not [w for w in recwarn if "Captum" in str(w.message)]
    with pytest.warns(UserWarning, match="needs Captum"):
        assert not figures.TensorBoardFigures(attributions=True).attributions
