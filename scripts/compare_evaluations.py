"""Two models on one test set: `python scripts/compare_evaluations.py <eval A> <eval B>`."""

import sys

from lstmlab.reporting.paired import main

if __name__ == "__main__":
    sys.exit(main())
