"""``python -m jainam_fsm.simulator``: run the XTS simulator (see :mod:`.cli`)."""

from __future__ import annotations

import sys

from jainam_fsm.simulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
