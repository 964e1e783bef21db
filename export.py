"""Export a checkpoint to a folder that runs with onnxruntime alone: `python export.py <ckpt>`."""

import sys

from lstmlab.serving.export import main

if __name__ == "__main__":
    sys.exit(main())
