"""``python -m benchmarks``: every benchmark, one report (see :mod:`benchmarks.run`)."""

import sys

from benchmarks.run import main

sys.exit(main())
