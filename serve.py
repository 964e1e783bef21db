"""Serve a checkpoint or an export folder over HTTP: `python serve.py <source>` (see README)."""

import sys

from lstmlab.serving.serve import main

if __name__ == "__main__":
    sys.exit(main())
