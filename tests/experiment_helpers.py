"""Shared by the experiment engine's test files: the tiny two-scenario experiment, the Ishigami
spec and the store's hashes and snapshots.

Why a module of its own: the engine's tests are split over two files so that `--dist loadfile`
can run them on both workers (the runs that start processes in one, specs, designs and the store
in the other), and both need these.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

from sim.experiments.store import parquet_path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
PI = 3.141592653589793

TINY = f"""
name: tiny
scenarios:
  baseline: {{config: {CONFIGS / "baseline.yaml"}}}
  reform: {{config: {CONFIGS / "reform_white_paper.yaml"}}}
uncertainties:
  identification.advocacy_effect: {{}}
design: {{method: latin_hypercube, samples: 3}}
replicates: 2
seed: 7
scale: 0.03
end: "2025-12"
"""  # 2 scenarios x 3 points x 2 replicates = 12 tasks


def write(tmp_path: Path, text: str, name: str = "experiment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def ishigami_spec(samples: int = 8, **extra: str) -> str:
    lines = [
        "name: ish",
        "task: ishigami",
        "uncertainties:",
        *(f"  x{i}: {{low: {-PI}, high: {PI}}}" for i in (1, 2, 3)),
        f"design: {{method: sobol, samples: {samples}}}",
    ]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def sidecar_hashes(out: Path) -> dict[str, str]:
    """task_id -> sha256 recorded at commit, after checking the parquet really has that hash."""
    hashes = {}
    for sidecar in (out / "runs").glob("scenario=*/_*.json"):
        record = json.loads(sidecar.read_text())
        parquet = parquet_path(sidecar)
        assert hashlib.sha256(parquet.read_bytes()).hexdigest() == record["sha256"], parquet
        hashes[record["task_id"]] = record["sha256"]
    return hashes


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
