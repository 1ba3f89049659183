"""Regenerate the golden regression metrics (tests/data/golden/metrics.csv).

Run this only when a change is meant to move results, and say in CHANGELOG.md what moved and why:
    python scripts/update_golden.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from golden import GOLDEN, golden_metrics  # noqa: E402  (the tests folder is not a package)

if __name__ == "__main__":
    frame = golden_metrics()
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(GOLDEN, index=False)
    print(f"wrote {len(frame)} rows to {GOLDEN.relative_to(Path.cwd()) if GOLDEN.is_relative_to(Path.cwd()) else GOLDEN}")
