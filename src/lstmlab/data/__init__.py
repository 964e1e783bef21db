"""Datamodules and the batching they share."""
