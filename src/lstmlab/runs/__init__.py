"""The Hydra tasks (train, evaluate, pretrain, predict, resume) and what they share: the
only layer that may import every other."""
