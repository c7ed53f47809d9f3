"""``python -m bertedu.experiments``: see :mod:`bertedu.experiments.cli`."""

import sys

from bertedu.experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
