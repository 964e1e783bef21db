"""Classify texts with a checkpoint: `python predict.py <checkpoint> "text" ...` (see README)."""

import sys

from lstmlab.serving.predict import main

if __name__ == "__main__":
    sys.exit(main())
