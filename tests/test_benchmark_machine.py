"""The benchmarks describe the machine they ran on (`benchmarks/machine.py`), because the same
code runs about three times faster on one 2-core host than on another: a rate without the
machine's reference time cannot be compared with another."""

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("benchmark_machine", Path(__file__).resolve().parent.parent / "benchmarks" / "machine.py")
machine = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(machine)


def test_the_machine_description_has_the_cpu_numpys_simd_and_positive_reference_times():
    described = machine.describe()
    assert described["cores"] >= 1
    assert described["cpu"]
    assert described["numpy_avx512"] in (True, False, None)
    assert set(described["reference_ms"]) == {"python_loop", "numpy_gather"}
    assert all(0 < ms < 10_000 for ms in described["reference_ms"].values())
    line = machine.summary(described)
    assert described["cpu"] in line and "AVX-512" in line and str(described["reference_ms"]["numpy_gather"]) in line

