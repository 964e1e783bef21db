"""Pretrain a classifier's encoder as a language model: `python pretrain.py` (see README)."""

from lstmlab.runs.pretrain import main

if __name__ == "__main__":
    main()
