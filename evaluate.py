"""Score a checkpoint: `python evaluate.py ckpt_path=<checkpoint> [split=val]` (see README)."""

from lstmlab.runs.evaluate import main

if __name__ == "__main__":
    main()
