"""The machine a benchmark ran on, described well enough to compare numbers across machines.

Why: the benchmarks' targets are wall times and rates "on a 2-core machine", but two machines
of that size are not alike. Measured on two hosts of the same 2-core kind a day apart, the
same code stepped 12.7-13.2 million child-months per CPU-second on one (a CPU with AVX-512,
idle) and 2.8-4.5 million on the other (AVX2 only, its speed varying from minute to minute
under other tenants): numpy's float64 `exp`, which the model's hazards call on every eligible
child, is vectorised with AVX-512 and falls back to one value at a time without it. So each
result file records the CPU, whether numpy has AVX-512, the load average, and the time of a
fixed reference workload (`reference_ms`) measured just before, so that a rate can be read
against the speed of the machine that produced it.
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
    """Milliseconds (best of `repeats`) of two fixed workloads: `numpy_exp`, float64 `exp` of
    one million values (the model's hazards), and `python_loop`, a million-step Python loop
    (the interpreter's own speed). Best of several, because another tenant's burst slows some
    repeats; the best is the machine's speed when it is not being shared."""
    import numpy as np

    values = np.linspace(-5.0, 5.0, 1_000_000)
    timings: dict[str, list[float]] = {"numpy_exp": [], "python_loop": []}
    for _ in range(repeats):
        start = time.perf_counter()
        np.exp(values)
        timings["numpy_exp"].append(time.perf_counter() - start)
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        timings["python_loop"].append(time.perf_counter() - start)
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
            f"exp of 1 M values {ref['numpy_exp']} ms, 1 M-step Python loop {ref['python_loop']} ms")
