"""lstmlab: a Hydra + Lightning template for comparing LSTM text classifiers."""

__version__ = "0.1.0"
