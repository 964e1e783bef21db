"""The LightningModule really optimises, with either head, and reports the right metrics."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from conftest import CONF_DIR, classifier_module
from omegaconf import OmegaConf

from lstmlab.data.synthetic import SyntheticDataModule
from lstmlab.models.adversarial import adversarial_push, zero_probe
from lstmlab.models.lit_module import ClassifierModule
from lstmlab.models.optimization import DEFAULT_OPTIMIZER
from lstmlab.models.schedules import warmup_cosine


def tiny_data(num_classes: int = 4) -> SyntheticDataModule:
    return SyntheticDataModule(
        num_samples=64,
        val_samples=32,
        test_samples=32,
        num_classes=num_classes,
        min_len=5,
        max_len=20,
        batch_size=16,
    )


def tiny_module(**kwargs) -> ClassifierModule:
    args = {"vocab_size": 1000, "num_classes": 4, "embed_dim": 8, "hidden_size": 8, **kwargs}
    return classifier_module(**args)


def quiet_trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_a_training_step_updates_every_parameter_it_touches():
    """The notebooks wrote `optimizer.step` without calling it: nothing learned."""
    model = tiny_module(pooling="attn")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    quiet_trainer(max_steps=1, limit_val_batches=0).fit(model, datamodule=tiny_data())
    for name, p in model.named_parameters():
        assert not torch.equal(p, before[name]), f"{name} did not change after an optimiser step"


@pytest.mark.parametrize(
    "optimizer",
    [
        {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1, "momentum": 0.9},
        {"_target_": "torch.optim.RMSprop", "_partial_": True, "lr": 1e-3},
    ],
)
def test_the_configured_optimizer_is_the_one_used(optimizer):
    model = tiny_module(optimizer=optimizer)
    built = model.configure_optimizers()
    assert type(built).__name__ == optimizer["_target_"].rsplit(".", 1)[-1]
    assert built.param_groups[0]["lr"] == optimizer["lr"]


def test_fused_adam_is_a_speed_switch_only():
    """`optimizer.fused=true` takes the same steps as the per-parameter loop."""
    adam = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optimizer" / "adam.yaml"))
    trained = {}
    for fused in (None, True):
        torch.manual_seed(0)
        model = tiny_module(optimizer={**adam, "fused": fused})
        quiet_trainer(max_steps=3, limit_val_batches=0).fit(model, datamodule=tiny_data())
        assert model.optimizers().optimizer.defaults["fused"] is fused
        trained[fused] = model.state_dict()
    for name, value in trained[None].items():
        torch.testing.assert_close(trained[True][name], value, msg=name)


def test_adversarial_training_pushes_uphill_and_fits_the_pushed_batch_too():
    """The push raises the loss (to first order, the most a push of its size can), and the
    training loss is the clean one plus the pushed one."""
    model = tiny_module(pooling="attn", adversarial_eps=0.1, embed_dropout=0.0, dropout=0.0)
    data = tiny_data()
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    probe = zero_probe(model.net.encoder.embedding, batch["tokens"])
    clean = model.loss(model(batch["tokens"], batch["lengths"], probe)[0], batch["labels"])
    pushed = model.adversarial_loss(batch, clean, probe)
    assert pushed > clean
    random = adversarial_push(torch.randn_like(probe), 0.1)  # the same size, any direction
    assert pushed > model.loss(model(batch["tokens"], batch["lengths"], random)[0], batch["labels"])

    model.log = lambda *args, **kwargs: None  # not attached to a trainer here
    torch.testing.assert_close(model.training_step(batch, 0), clean + pushed)


@pytest.mark.parametrize("pooling", ["attn", "hn", "mean", "max", "last"])
def test_the_models_own_gradient_pushes_no_padding_position(pooling):
    """On a padded batch the loss's real gradient is zero on padding, so the push is too, and
    the pushed loss does not change when more padding is appended."""
    model = tiny_module(pooling=pooling, adversarial_eps=0.5)
    lengths = torch.tensor([6, 2, 4])
    tokens = torch.randint(2, 1000, (3, 6))
    tokens[torch.arange(6) >= lengths[:, None]] = 0
    labels = torch.tensor([0, 1, 2])

    def pushed_loss(tokens):
        batch = {"tokens": tokens, "lengths": lengths, "labels": labels}
        probe = zero_probe(model.net.encoder.embedding, tokens)
        loss = model.loss(model(tokens, lengths, probe)[0], labels)
        (gradient,) = torch.autograd.grad(loss, probe, retain_graph=True)
        return gradient, model.adversarial_loss(batch, loss, probe)

    gradient, pushed = pushed_loss(tokens)
    padding = torch.arange(6) >= lengths[:, None]
    assert torch.all(adversarial_push(gradient, 0.5)[padding] == 0)
    assert gradient[~padding].abs().sum() > 0
    _, pushed_more_padding = pushed_loss(torch.cat([tokens, torch.zeros(3, 5).long()], dim=1))
    torch.testing.assert_close(pushed_more_padding, pushed)


def test_a_nan_adversarial_loss_stops_training_like_a_nan_clean_loss(monkeypatch):
    model = tiny_module(adversarial_eps=0.1)
    monkeypatch.setattr(model, "adversarial_loss", lambda *args: torch.tensor(float("nan")))
    with pytest.raises(FloatingPointError, match=r"train/adversarial_loss became nan at step 0"):
        quiet_trainer(max_steps=1, limit_val_batches=0).fit(model, datamodule=tiny_data())


def test_adversarial_training_runs_and_logs_its_loss():
    model = tiny_module(adversarial_eps=1.0)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=0)
    trainer.fit(model, datamodule=tiny_data())
    assert trainer.global_step == 2 and "train/adversarial_loss_epoch" in trainer.logged_metrics


def test_a_negative_adversarial_eps_is_refused():
    with pytest.raises(ValueError, match=r"adversarial_eps=-1\.0: expected >= 0"):
        tiny_module(adversarial_eps=-1.0)


def test_scheduler_keys_reach_lightning():
    scheduler = {
        "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True},
        "monitor": "val/loss",
        "interval": "epoch",
    }
    built = tiny_module(scheduler=scheduler).configure_optimizers()
    assert isinstance(
        built["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau
    )
    assert built["lr_scheduler"]["monitor"] == "val/loss"


def test_bce_head_gives_one_logit_and_two_class_probabilities():
    model = tiny_module(num_classes=2, head="bce")
    tokens, lengths = torch.randint(2, 1000, (3, 7)), torch.tensor([7, 4, 1])
    logits, _ = model(tokens, lengths)
    probs = model.probabilities(logits)
    assert logits.shape == (3, 1) and probs.shape == (3, 2)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], torch.ones(3))
    torch.testing.assert_close(model.loss(logits, torch.ones(3, dtype=torch.long)), expected)


def test_class_weights_weigh_the_loss_of_either_head():
    weights = [0.5, 2.0]
    logits, labels = torch.randn(6, 2), torch.tensor([0, 1, 1, 0, 1, 1])
    ce = tiny_module(num_classes=2, loss_weights=weights)
    expected = F.cross_entropy(logits, labels, weight=torch.tensor(weights))
    torch.testing.assert_close(ce.loss(logits, labels), expected)
    assert not torch.isclose(expected, F.cross_entropy(logits, labels))
    bce = tiny_module(num_classes=2, head="bce", loss_weights=weights)
    logit = logits[:, :1]
    positive = torch.tensor(weights[1] / weights[0])  # the positive class relative to the other
    expected = F.binary_cross_entropy_with_logits(logit[:, 0], labels.float(), pos_weight=positive)
    torch.testing.assert_close(bce.loss(logit, labels), expected)
    assert not torch.isclose(
        expected, F.binary_cross_entropy_with_logits(logit[:, 0], labels.float())
    )


def test_bce_head_trains_and_tests_end_to_end():
    model = tiny_module(num_classes=2, head="bce")
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=tiny_data(num_classes=2))
    (results,) = trainer.test(model, datamodule=tiny_data(num_classes=2), verbose=False)
    assert {"test/acc", "test/f1", "test/precision", "test/recall", "test/loss"} <= results.keys()


def test_validation_tracks_the_best_accuracy_seen():
    """val/acc_best is the maximum over epochs: a worse epoch after a better one keeps it."""
    model = tiny_module()
    logged = {}
    model.log = lambda name, value, **kwargs: logged.__setitem__(name, float(value))
    model._log_global_step = lambda *args, **kwargs: None  # not attached to a trainer here
    labels = torch.tensor([0, 1, 2, 3])
    for predictions, accuracy in ((labels, 1.0), ((labels + 1) % 4, 0.0), (labels, 1.0)):
        model.val_metrics.update(predictions, labels)
        model.collectors["val"].update(torch.eye(4)[predictions], labels)
        model.on_validation_epoch_end()
        assert model.val_metrics.compute()["val/acc"] == accuracy
        assert logged["val/acc_best"] == 1.0
        model.val_metrics.reset()  # as Lightning does after logging the epoch's metrics


def test_hyperparameters_rebuild_the_model_from_a_checkpoint(tmp_path):
    model = tiny_module(pooling="max", bidirectional=False, init_state="learned")
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=tiny_data())
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    restored = ClassifierModule.load_from_checkpoint(tmp_path / "model.ckpt", weights_only=True)
    assert restored.hparams.net["pooling"]["_target_"].endswith("MaxPooling")
    assert restored.hparams.net["encoder"]["init_state"] == "learned"
    for (name, p), q in zip(model.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(p, q), name


def test_warmup_cosine_ramps_the_learning_rate_up_then_decays_it_over_the_whole_run():
    scheduler = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "scheduler/warmup_cosine.yaml"))
    scheduler["scheduler"]["warmup_steps"] = 4
    model = tiny_module(scheduler=scheduler)
    model.trainer = SimpleNamespace(estimated_stepping_batches=12)  # the run's length
    built = model.configure_optimizers()
    optimizer, step = built["optimizer"], built["lr_scheduler"]
    assert step["interval"] == "step"
    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        step["scheduler"].step()
    peak = DEFAULT_OPTIMIZER["lr"]
    assert rates[0] == pytest.approx(peak / 4)
    assert rates[:5] == sorted(rates[:5]) and rates[4] == pytest.approx(peak)
    assert rates[4:] == sorted(rates[4:], reverse=True) and rates[-1] < peak / 10


def test_warmup_needs_at_least_one_step():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="warmup_steps=0: expected at least 1"):
        warmup_cosine(optimizer, warmup_steps=0, total_steps=10)


def test_the_names_it_declares_are_the_names_it_logs():
    """What callbacks may monitor (`logged_metrics`) cannot go stale: a run's names exactly."""
    model = tiny_module(adversarial_eps=1.0)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=tiny_data())
    assert set(trainer.callback_metrics) == model.logged_metrics(("train", "val"))
    trainer.test(model, datamodule=tiny_data(), verbose=False)
    assert set(trainer.callback_metrics) == model.logged_metrics(("test",))
