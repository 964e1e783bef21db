"""Files the later steps rely on, written so that a crash or a full disk never leaves half of one.

The lowest layer: every other layer (data, models, callbacks, reporting, runs) may use it."""
