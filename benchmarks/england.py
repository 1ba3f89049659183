"""Whole England, both routes: where the time and the memory of a national comparison go.

Why: the national comparison (all 153 councils, EHCP route and tiered route, one replicate, to
August 2036) is the largest run a user makes. Its wall time on a 2-core machine, and the peak
memory of each of the two worker processes, decide whether it can be run at all. A shared
machine makes one wall time meaningless on its own, so each route's worker is measured by phase
(build, monthly steps, metrics, children table) in CPU seconds as well as wall seconds, with the
machine's load average alongside.

What is measured, per route, in a fresh single-threaded subprocess (the two routes run at the
same time, as the two workers of `sendsim compare` do):

- build, run (every monthly step), children table, metrics, and the return (the tables pickled
  to a file as a pool worker hands them back, after the model is let go): wall and CPU seconds;
- child-months stepped (rows on roll summed over months) and child-months per CPU-second;
- state bytes per child (`population.build.column_bytes_per_child`: every per-child column,
  all rows, future Reception cohorts too) and child rows;
- peak RSS of the worker (`resource.getrusage` maxrss) after each phase, and on Linux each
  phase's own peak and the resident memory as it ends; the event log's (the kinds a replicate
  keeps, as `run_replicate` builds its model), the state's and the children table's bytes per
  child row and the size of the pickled tables.

With `--end-to-end`, it also times `sendsim compare configs/england.yaml
configs/england_white_paper.yaml --replicates 1 --workers 2` (wall, from the command's start to
its last file written) and reports the peak of its largest process (the parent or a worker).

The machine is described as `benchmarks/machine.py` does (CPU, numpy's AVX-512, load, and two
reference workloads' times), because the same code runs about three times faster on one 2-core
host than on another.

Usage:
    python benchmarks/england.py                     # scale 0.1 (about 810,000 pupils)
    python benchmarks/england.py --scale 1.0 --end-to-end
Writes benchmarks/out/england.csv and benchmarks/out/england.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from machine import describe, summary  # benchmarks/machine.py (the script's own directory is on the path)

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = Path(__file__).resolve().parent / "out"
ROUTES = {"ehcp_route": "configs/england.yaml", "tiered_route": "configs/england_white_paper.yaml"}
SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")}


def _max_rss_bytes() -> int:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports kilobytes


def _status_bytes(field: str) -> int | None:
    """VmRSS or VmHWM (the resident peak since the last reset) of this process, Linux only."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Start a new resident peak (Linux: VmHWM is reset by writing 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def measure_route(config_path: str, scale: float, end: str | None) -> dict:
    """Build, run and measure one route as a compare worker does (runs inside the subprocess):
    the same steps as `run_replicate` and `run_replicate_to_file`, one phase at a time."""
    from sim.config.loader import load_config
    from sim.experiments.runner import ReplicateOutput, release_memory, replicate_seed
    from sim.metrics import children_table, compute_metrics, system_table
    from sim.metrics.compute import OUTCOME_EVENTS, finished_run
    from sim.model import SendModel
    from sim.population.build import column_bytes_per_child

    overrides: dict = {"population": {"scale": scale}}
    if end:
        overrides["run"] = {"end": end}
    config = load_config(ROOT / config_path, overrides)
    result: dict = {"config": config_path, "scale": scale}

    peak_so_far = [0]

    def phase(name: str, work):
        """Wall and CPU seconds; the process's peak so far (`peak_rss_gb`), the phase's own peak
        (`own_peak_gb`, Linux) and the resident memory as it ends (`end_rss_gb`). (Starting a new
        peak resets the one `getrusage` reports too, so the peak so far is kept here.)"""
        own = _reset_peak()
        wall, cpu = time.perf_counter(), time.process_time()
        value = work()
        result[f"{name}_wall_s"] = round(time.perf_counter() - wall, 2)
        result[f"{name}_cpu_s"] = round(time.process_time() - cpu, 2)
        peak_so_far[0] = max(peak_so_far[0], _max_rss_bytes())
        result[f"{name}_peak_rss_gb"] = round(peak_so_far[0] / 2**30, 3)
        if own:
            result[f"{name}_own_peak_gb"] = round(_status_bytes("VmHWM") / 2**30, 3)
            result[f"{name}_end_rss_gb"] = round(_status_bytes("VmRSS") / 2**30, 3)
        return value

    model = phase("build", lambda: SendModel(config, seed=replicate_seed(config.run.seed, 0), event_kinds=OUTCOME_EVENTS))
    release_memory()  # as `run_replicate`
    child_months = sum(hi - lo for lo, hi in (model.on_roll(t) for t in range(model.n_months)))
    result.update({
        "child_rows": len(model.children),
        "state_bytes_per_child": round(column_bytes_per_child(model.children), 1),
        "state_gb": round(model.children.nbytes() / 2**30, 3),
    })
    phase("run", model.run)
    result["event_log_bytes_per_child"] = round(model.events.nbytes() / len(model.children), 1)
    run = finished_run(model)
    del model
    release_memory()  # as `run_replicate`: the state columns nothing reads any more
    children = phase("children_table", partial(children_table, run))  # as `run_replicate`: built once, read by the metrics
    metrics = phase("metrics", partial(compute_metrics, run, children, between=release_memory))
    result.update({
        "children_table_rows": len(children),
        "children_table_bytes_per_row": round(children.memory_usage(deep=True).sum() / max(len(children), 1), 1),
        "pupils_at_start": int(run.recorder.system["pupils"][0].sum()),
        "months": run.n_months,
        "child_months": int(child_months),
        "child_months_per_cpu_s": round(child_months / max(result["run_cpu_s"], 1e-9)),
    })
    output = ReplicateOutput(0, 0, metrics, system_table(run), children)
    del run, metrics, children
    release_memory()  # as `run_replicate`, before a pool worker writes its tables for the parent

    def hand_back() -> int:
        with tempfile.TemporaryFile() as handle:  # as `run_replicate_to_file`
            pickle.dump(output, handle, protocol=5)
            return handle.tell()

    result["return_pickled_gb"] = round(phase("return", hand_back) / 2**30, 3)
    return result


def end_to_end(scale: float, end: str | None) -> dict:
    """Wall seconds of the national `sendsim compare`, one replicate on two workers, and the
    peak of its largest process (Linux's `RUSAGE_CHILDREN` maxrss of a wrapper whose only child
    is the command: the largest of the command and its workers, each counted alone)."""
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
                   "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")
        command = [sys.executable, "-c", wrapper, sys.executable, "-m", "sim.cli", "compare", *ROUTES.values(), "--replicates", "1", "--workers", "2",
                   "--scale", str(scale), "--out", str(Path(tmp) / "england")]
        if end:
            command += ["--end", end]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, **SINGLE_THREAD_ENV}, capture_output=True, text=True)
        wall = time.perf_counter() - start
    *messages, peak_kb = done.stderr.strip().splitlines()  # the wrapper prints the peak last
    if done.returncode != 0:
        return {"compare_wall_s": None, "compare_error": messages[-1] if messages else "failed"}
    peak_kb = int(peak_kb)
    return {"compare_wall_s": round(wall, 1), "compare_largest_process_peak_gb": round(peak_kb * 1024 / 2**30, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="population.scale (1.0 = all of England's pupils)")
    parser.add_argument("--end", default=None, help="run.end (YYYY-MM); default the scenarios' own end, August 2036")
    parser.add_argument("--end-to-end", action="store_true", help="also time the whole `sendsim compare`")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(measure_route(args.worker, args.scale, args.end)))
        return

    machine = describe()  # before the workers: the reference workload on a quiet machine
    env = {**os.environ, **SINGLE_THREAD_ENV}
    workers = {
        route: subprocess.Popen([sys.executable, __file__, "--worker", path, "--scale", str(args.scale),
                                 *(["--end", args.end] if args.end else [])], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for route, path in ROUTES.items()
    }
    start = time.perf_counter()
    rows = []
    for route, process in workers.items():
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"the {route} worker failed (exit {process.returncode})")
        rows.append({"route": route, **json.loads(out.strip().splitlines()[-1])})
    both_wall = time.perf_counter() - start
    extra = end_to_end(args.scale, args.end) if args.end_to_end else {}
    load_after = os.getloadavg()[0]

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with open(args.out_dir / "england.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# Whole England, both routes, scale {args.scale}",
        "",
        f"Both workers side by side: {both_wall:.0f} s wall. " + (
            f"`sendsim compare` end to end: {extra['compare_wall_s']} s wall, its largest process's peak "
            f"{extra['compare_largest_process_peak_gb']} GiB." if extra.get("compare_wall_s")
            else (f"`sendsim compare` did not run: {extra['compare_error']}" if extra else "")),
        f"Machine: {summary(machine)}; load average {machine['load_average']:.1f} before, {load_after:.1f} after.",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(str(v) for v in row.values()) + " |" for row in rows),
    ]
    (args.out_dir / "england.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
