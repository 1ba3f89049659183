"""How fast does the monthly step run, and how much memory does a child cost?

Why: a national run (all of England's councils, about 17 million child rows) should fit on a
laptop. The targets we report against are >= 10 million child-months simulated per second per
core at 60,000 pupils, and <= 200 bytes of state per child (benchmarks/README.md has the results).

What is measured, for each population size, in a fresh single-threaded subprocess (so peak RSS
belongs to that size alone and no numpy thread pool spreads the work over several cores):

- build time: `SendModel(config)` (population, schools, councils, network), reported separately;
- step time: wall and CPU seconds for `--months` calls of `model.step()` only;
- child-months: the sum over those months of the rows on roll (`hi - lo` from `model.on_roll(t)`);
- throughput: child-months per CPU-second (one process = one core) and per wall-second;
- state bytes per child: `population.build.column_bytes_per_child` (all rows, future cohorts too);
- peak memory per child: the rise in peak RSS (`resource.getrusage` maxrss) over the
  post-import baseline, and the tracemalloc peak of a second, traced build plus a few steps,
  each divided by the number of child rows.

Usage:
    python benchmarks/step_throughput.py                       # 60k (1 council), 600k (10 councils)
    python benchmarks/step_throughput.py --months 24 --sizes 60000 600000x1
Sizes are `PUPILS` or `PUPILSxCOUNCILS` (pupils on roll at the start, split evenly over councils;
by default one council per 60,000 pupils, a typical English council). Results go to a table on
stdout and to benchmarks/out/step_throughput.json, with the machine as `benchmarks/machine.py`
describes it (the same step runs about three times faster on one 2-core host than another).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import describe, summary  # benchmarks/machine.py (the script's own directory is on the path)

TARGET_CHILD_MONTHS_PER_CORE_SECOND = 10_000_000
TARGET_STATE_BYTES_PER_CHILD = 200
PUPILS_PER_TYPICAL_COUNCIL = 60_000
TRACED_MONTHS = 3  # steps run under tracemalloc (it slows allocation-heavy code, so keep it short)
SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")}
OUT_FILE = Path(__file__).resolve().parent / "out" / "step_throughput.json"


def parse_size(text: str) -> tuple[int, int]:
    """'600000' -> (600000, 10); '600000x1' -> (600000, 1)."""
    if "x" in text.lower():
        pupils, councils = text.lower().split("x")
        return int(pupils), int(councils)
    pupils = int(text)
    return pupils, max(1, round(pupils / PUPILS_PER_TYPICAL_COUNCIL))


def _max_rss_bytes() -> int:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports kilobytes


def measure(pupils: int, councils: int, months: int, seed: int) -> dict:
    """Build one model and time its monthly step (runs inside the worker subprocess)."""
    import gc
    import tracemalloc

    from sim.config.schema import ScenarioConfig
    from sim.model import SendModel
    from sim.population.build import column_bytes_per_child

    config = ScenarioConfig()
    config.population.councils = councils
    config.population.pupils_per_council = pupils // councils
    gc.collect()
    rss_baseline = _max_rss_bytes()

    start = time.perf_counter()
    model = SendModel(config, seed=seed)
    build_seconds = time.perf_counter() - start
    rss_after_build = _max_rss_bytes()
    n_rows = len(model.children)
    months = min(months, model.n_months)

    child_months = 0
    wall = cpu = 0.0
    step_seconds = []
    for _ in range(months):
        lo, hi = model.on_roll(model.month)
        w0, c0 = time.perf_counter(), time.process_time()
        model.step()
        w1, c1 = time.perf_counter(), time.process_time()
        wall += w1 - w0
        cpu += c1 - c0
        step_seconds.append(w1 - w0)
        child_months += hi - lo
    rss_peak = _max_rss_bytes()
    on_roll_start = model.on_roll(0)[1] - model.on_roll(0)[0]
    state_bytes = column_bytes_per_child(model.children)
    del model
    gc.collect()

    # tracemalloc sees numpy's buffers; a separate traced run keeps its overhead out of the timings
    tracemalloc.start()
    traced = SendModel(config, seed=seed)
    _, traced_build_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for _ in range(min(TRACED_MONTHS, months)):
        traced.step()
    traced_current, traced_step_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    return {
        "pupils": pupils,
        "councils": councils,
        "child_rows": n_rows,
        "on_roll_at_start": on_roll_start,
        "months": months,
        "build_seconds": build_seconds,
        "step_wall_seconds": wall,
        "step_cpu_seconds": cpu,
        "step_ms_median": 1000 * sorted(step_seconds)[len(step_seconds) // 2] if step_seconds else None,
        "step_ms_max": 1000 * max(step_seconds) if step_seconds else None,
        "child_months": child_months,
        "child_months_per_core_second": child_months / cpu if cpu > 0 else None,
        "child_months_per_wall_second": child_months / wall if wall > 0 else None,
        "state_bytes_per_child": state_bytes,
        "state_bytes_per_on_roll_child": state_bytes * n_rows / on_roll_start,
        "peak_rss_bytes_per_child": (rss_peak - rss_baseline) / n_rows,
        "build_rss_bytes_per_child": (rss_after_build - rss_baseline) / n_rows,
        "tracemalloc_build_peak_bytes_per_child": traced_build_peak / n_rows,
        "tracemalloc_step_peak_bytes_per_child": traced_step_peak / n_rows,
        "tracemalloc_resident_bytes_per_child": traced_current / n_rows,
        "peak_rss_bytes": rss_peak,
    }


def run_worker(pupils: int, councils: int, months: int, seed: int) -> dict:
    """Measure one size in a fresh single-threaded interpreter."""
    env = {**os.environ, **SINGLE_THREAD_ENV}
    command = [sys.executable, __file__, "--worker", f"{pupils}x{councils}", "--months", str(months), "--seed", str(seed)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker for {pupils}x{councils} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'pupils':>9} {'councils':>8} {'rows':>9} {'months':>6} {'build s':>8} {'step ms':>8} "
        f"{'Mchild-mo/s/core':>16} {'state B/child':>13} {'(per on roll)':>13} {'peak RSS B/child':>16} {'tracemalloc B/child':>19}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        rate = r["child_months_per_core_second"] or 0.0
        print(
            f"{r['pupils']:>9,} {r['councils']:>8} {r['child_rows']:>9,} {r['months']:>6} {r['build_seconds']:>8.2f} "
            f"{r['step_ms_median']:>8.1f} {rate / 1e6:>16.2f} {r['state_bytes_per_child']:>13.0f} {r['state_bytes_per_on_roll_child']:>13.0f} "
            f"{r['peak_rss_bytes_per_child']:>16.0f} {r['tracemalloc_step_peak_bytes_per_child']:>19.0f}"
        )
    print(
        f"targets: >= {TARGET_CHILD_MONTHS_PER_CORE_SECOND / 1e6:.0f} M child-months/s/core; "
        f"<= {TARGET_STATE_BYTES_PER_CHILD} B state/child. 'rows' counts every child ever on roll in the run "
        "(future Reception cohorts too); child-months count only rows on roll."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=36, help="monthly steps to time (capped at the run length)")
    parser.add_argument("--sizes", nargs="+", default=["60000x1", "600000x10"], help="PUPILS or PUPILSxCOUNCILS")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--out", type=Path, default=OUT_FILE)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        pupils, councils = parse_size(args.worker)
        print(json.dumps(measure(pupils, councils, args.months, args.seed)))
        return

    machine = describe()  # before the workers: the reference workload on a quiet machine
    rows = []
    for size in args.sizes:
        pupils, councils = parse_size(size)
        print(f"measuring {pupils:,} pupils in {councils} council(s), {args.months} months ...", file=sys.stderr)
        rows.append(run_worker(pupils, councils, args.months, args.seed))
    print_table(rows)
    print(f"machine: {summary(machine)}; load average {machine['load_average']}", file=sys.stderr)
    for r in rows:
        r["meets_throughput_target"] = (r["child_months_per_core_second"] or 0) >= TARGET_CHILD_MONTHS_PER_CORE_SECOND
        r["meets_state_bytes_target"] = r["state_bytes_per_child"] <= TARGET_STATE_BYTES_PER_CHILD
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "targets": {
            "child_months_per_core_second": TARGET_CHILD_MONTHS_PER_CORE_SECOND,
            "state_bytes_per_child": TARGET_STATE_BYTES_PER_CHILD,
        },
        "machine": machine,
        "results": rows,
    }, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
