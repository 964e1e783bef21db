"""The timed training loop shared by benchmark.py's plain-loop pipelines (the notebooks' and
lstmlab's plain loop): epochs timed with validation left out, as train.py's callbacks time
them, and the time-to-accuracy race checked every few steps.
"""

from __future__ import annotations

import argparse


def timed_epochs(
    model, batches, device, epochs: int, step, race=None, accuracy=None, check_every: int = 0
) -> dict:
    """Trains for up to `epochs` passes over `batches(epoch)` with `step(batch)` (which returns
    the batch's size) and times each pass with validation left out (`TrainingClock`, as
    train.py's callbacks), stopping the clock once the device has finished. With `race` (an
    `AccuracyRace`), `accuracy()` is checked every `check_every` steps and training ends once
    the race is over; a pass cut short is not counted as an epoch."""
    from lstmlab.callbacks.timing import TrainingClock, synchronize

    sync = lambda: synchronize(device)  # noqa: E731
    total, epoch_clock = TrainingClock(sync), TrainingClock(sync)
    model.train()
    epoch_s, samples_per_s, steps = [], [], 0
    total.start()
    for epoch in range(epochs):
        epoch_clock.start()
        samples = 0
        for batch in batches(epoch):
            total.resume(), epoch_clock.resume()
            samples += step(batch)
            steps += 1
            if race is not None and steps % check_every == 0:
                total.pause(), epoch_clock.pause()
                model.eval()
                race.record(total.seconds, steps, accuracy())
                model.train()
                if race.over:
                    break
        else:
            epoch_s.append(epoch_clock.seconds)
            samples_per_s.append(samples / epoch_s[-1])
        if race is not None and race.over:
            break
    return {
        "train_epoch_s": [round(s, 3) for s in epoch_s],
        "train_samples_per_s": [round(s, 1) for s in samples_per_s],
        **({"time_to_accuracy": race.summary()} if race is not None else {}),
    }


def accuracy_race(args: argparse.Namespace, batches_per_epoch: int) -> dict:
    """`timed_epochs`' arguments for `--target-acc`: the time-to-accuracy bookkeeping, checked
    `--checks-per-epoch` times an epoch (as train.py's `trainer.val_check_interval=1/checks`),
    and the epochs to train at most; without a target, `--epochs` and no checks."""
    from lstmlab.callbacks.time_to_accuracy import AccuracyRace

    if args.target_acc is None:
        return {"epochs": args.epochs}
    return {
        "epochs": args.max_epochs,
        "race": AccuracyRace(args.target_acc, args.max_train_s),
        "check_every": max(1, int(batches_per_epoch / args.checks_per_epoch)),
    }


def last_accuracy(race: dict) -> float | None:
    """The last check's accuracy, if the race checked any (saves one more validation)."""
    checks = race["race"].checks if "race" in race else []
    return checks[-1][2] if checks else None


def optimizer_step(optimizer, loss) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
