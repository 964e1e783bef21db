"""Compare a sweep's runs: `python scripts/compare.py logs/multiruns/<time>` (lstmlab.compare)."""

import sys

from lstmlab.compare import main

if __name__ == "__main__":
    sys.exit(main())
