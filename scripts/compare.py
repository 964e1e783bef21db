"""Compare a sweep's runs: `python scripts/compare.py logs/multiruns/<time>` (see README)."""

import sys

from lstmlab.reporting.compare import main

if __name__ == "__main__":
    sys.exit(main())
