"""Experiment throughput: runs per minute of the default council, serial against local processes.

Why: sizing a sensitivity study (Morris with 8 uncertainties and 2 scenarios is 108 runs per
replicate) needs runs per minute on the machine at hand, and the speed-up of the process pool
tells whether the engine, not the model, is the bottleneck. Each run is the default council
(scale 1.0, January 2025 to August 2036) through the full engine: design, tasks, executor,
atomic commits with sha256 sidecars.

    python benchmarks/experiment_throughput.py [--runs 8] [--workers 2]

Writes benchmarks/out/experiment_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from sim import __version__
from sim.experiments.engine import run_experiment
from sim.experiments.executors import default_workers
from sim.experiments.provenance import git_state, now_iso

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parent / "configs"


def experiment_text(runs: int) -> str:
    return (
        "name: throughput\n"
        f"scenarios:\n  baseline: {{config: {CONFIGS / 'baseline.yaml'}}}\n"
        f"replicates: {runs}\nseed: 20250101\nscale: 1.0\nend: \"2036-08\"\n"
    )


def timed_run(spec: Path, executor: str, workers: int | None, scratch: Path) -> float:
    out = scratch / executor
    started = time.perf_counter()
    run_experiment(spec, executor=executor, workers=workers, out=out, log=lambda m: None)
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="replicates per executor")
    parser.add_argument("--workers", type=int, default=min(2, default_workers()), help="processes for the local executor")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]  # other work on the machine depresses the speed-up
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        spec = scratch / "throughput.yaml"
        spec.write_text(experiment_text(args.runs))
        serial = timed_run(spec, "serial", None, scratch)
        local = timed_run(spec, "local", args.workers, scratch)

    result = {
        "benchmark": "experiment_throughput",
        "runs": args.runs,
        "scenario": "configs/baseline.yaml, scale 1.0, 2025-01 to 2036-08",
        "serial_seconds": round(serial, 2),
        "serial_runs_per_minute": round(60 * args.runs / serial, 2),
        "local_workers": args.workers,
        "local_seconds": round(local, 2),
        "local_runs_per_minute": round(60 * args.runs / local, 2),
        "speed_up": round(serial / local, 2),
        "cores": default_workers(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "machine": platform.platform(),
        "python": platform.python_version(),
        "sendsim_version": __version__,
        "git": git_state(),
        "measured": now_iso(),
    }
    print(f"serial: {result['serial_runs_per_minute']} runs/min ({serial:.1f} s for {args.runs} runs)")
    print(f"local ({args.workers} processes): {result['local_runs_per_minute']} runs/min ({local:.1f} s)")
    print(f"speed-up: {result['speed_up']}x on {args.workers} workers")
    out = HERE / "out" / "experiment_throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
