"""Lightning's checkpoint writing, made atomic in the checkpoint's own folder.

Lightning 2.6's `TorchCheckpointIO` writes through an fsspec transaction, whose temporary file
lives in the system temporary folder and is moved into place on commit: across filesystems a
copy, which a full disk leaves half-written under the real name (a 28 KB `last.ckpt`)."""

from __future__ import annotations

import io
import os
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from lstmlab.io.atomic import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` that writes each checkpoint whole or not at all (local paths; a
    remote URL goes through Lightning's own writer, which object stores make atomic)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        buffer = io.BytesIO()  # serialised first: a torch.save error writes nothing at all
        torch.save(checkpoint, buffer)
        with atomic_open(path, "wb") as file:
            file.write(buffer.getbuffer())
