"""The machine a benchmark ran on, described well enough to compare numbers across machines.

Why: the benchmarks' targets are wall times and rates "on a 2-core machine", but two machines
of that size are not alike. Measured on two hosts of the same 2-core kind a day apart, the
same code stepped 12.7-13.2 million child-months per CPU-second on one (idle) and 2.8-4.5
million on the other (its speed varying from minute to minute under other tenants). Not one
instruction set explains it: on the slower host numpy's float64 `exp`, which numpy vectorises
only with AVX-512 and that host lacks, is 2.4% of the monthly step; the step is twenty-odd
stages of many numpy calls over the roll, so the difference lies in how fast the host runs
the interpreter and reaches memory. So each result file records the CPU, whether numpy has
AVX-512, the load average, and the times of two fixed reference workloads measured just before
(`reference_ms`): a Python loop (the interpreter between numpy calls) and a gather of scattered
rows (the memory behind the model's per-child columns), so that a rate can be read against the
speed of the machine that produced it.
"""

from __future__ import annotations

import os
import platform
import time


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_avx512() -> bool | None:
    """Whether numpy dispatches to AVX-512 on this CPU (None: numpy does not say)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy moved its private module: say unknown rather than guess
        return None
    return bool(__cpu_features__.get("AVX512F"))


def reference_ms(repeats: int = 5) -> dict[str, float]:
    """Milliseconds (best of `repeats`) of two fixed workloads: `python_loop`, a million-step
    Python loop (the interpreter's own speed), and `numpy_gather`, a million rows gathered at
    random from a column of ten million float64 values (memory latency, as in the model's
    per-child gathers). Best of several, because another tenant's burst slows some repeats; the
    best is the machine's speed when it is least shared."""
    import numpy as np

    column = np.arange(10_000_000, dtype=np.float64)
    rows = np.random.default_rng(0).integers(0, len(column), 1_000_000)
    timings: dict[str, list[float]] = {"python_loop": [], "numpy_gather": []}
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        timings["python_loop"].append(time.perf_counter() - start)
        start = time.perf_counter()
        column[rows]
        timings["numpy_gather"].append(time.perf_counter() - start)
    return {name: round(min(times) * 1000, 2) for name, times in timings.items()}


def describe() -> dict:
    """Cores, CPU, numpy's AVX-512, Python, the 1-minute load average and the reference times."""
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "numpy_avx512": numpy_avx512(),
        "python": platform.python_version(),
        "load_average": round(os.getloadavg()[0], 2),
        "reference_ms": reference_ms(),
    }


def summary(machine: dict) -> str:
    """One line for a results page."""
    ref = machine["reference_ms"]
    simd = {True: "numpy with AVX-512", False: "numpy without AVX-512", None: "numpy SIMD unknown"}[machine["numpy_avx512"]]
    return (f"{machine['cores']} cores, {machine['cpu']} ({simd}), Python {machine['python']}; reference workload: "
            f"1 M-step Python loop {ref['python_loop']} ms, 1 M scattered rows gathered {ref['numpy_gather']} ms")
