"""Encoders: token ids -> one vector per position (the contract is in `base.py`)."""
