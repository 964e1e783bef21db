"""The Hydra tasks (train, evaluate, pretrain, resume) and what they share: the layer that
may import every other but `serving`."""
