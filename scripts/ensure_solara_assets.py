"""Fetch the dashboard page's JavaScript and CSS from the npm registry into Solara's asset cache.

See `sim.dashboard.assets`: idempotent, quiet when present; `make test` and `make dashboard` run it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.dashboard.assets import ensure  # noqa: E402

if __name__ == "__main__":
    sys.exit(ensure())
