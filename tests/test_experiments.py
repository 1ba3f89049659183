"""The experiment engine's runs: results do not depend on how (or in how many sittings) an
experiment ran: serially, in a pool of processes or on dask, killed and resumed, stopped by
SIGTERM; a finished experiment is not rerun. (Specs, designs, the store's refusals and the
sensitivity chain are in test_experiment_specs.py.)

Simulation experiments here are tiny (scale 0.03, to December 2025: a fraction of a second per
run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.experiments.engine import run_experiment
from sim.experiments.store import load_metrics
from tests.experiment_helpers import TINY, sidecar_hashes, snapshot, write


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny experiment run once, uninterrupted and serially: the reference for equality tests."""
    base = tmp_path_factory.mktemp("reference")
    spec = write(base, TINY)
    return spec, run_experiment(spec, executor="serial", out=base / "out", log=lambda m: None)


# ---- running and resuming ----------------------------------------------------------------------
def kill_points(count: int, seed: int = 20251130) -> list[int]:
    """Tasks committed before each kill, drawn at random with a fixed seed (0 = during start-up)."""
    import random

    return sorted(random.Random(seed).sample(range(0, 11), count))


def _start_and_kill(spec: Path, out: Path, kill_after: int, delay: float) -> None:
    """Start the experiment in its own process group; SIGKILL the group once `kill_after` tasks
    are committed (plus `delay` seconds, to land inside a task or a write), or when it ends."""
    code = (f"from sim.experiments.engine import run_experiment; "
            f"run_experiment({str(spec)!r}, executor='local', workers=2, out={str(out)!r})")
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    try:
        while time.time() < deadline and process.poll() is None and len(list(out.glob("runs/*/_*.json"))) < kill_after:
            time.sleep(0.01)
        time.sleep(delay)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the whole process group we started: runner and its workers
        process.wait()


@pytest.mark.parametrize("points", [pytest.param(2, id="2-kills"), pytest.param(6, id="6-kills", marks=pytest.mark.slow)])
def test_an_interrupted_experiment_resumes_to_exactly_the_uninterrupted_result(tmp_path, tiny_reference, points):
    """SIGKILL at several kill points drawn at random (fixed seed), one after another on the same
    store, then a resume: the store equals an uninterrupted run byte for byte."""
    import random

    spec, reference = tiny_reference
    out = tmp_path / "out"
    delays = random.Random(points).choices([0.0, 0.05, 0.2], k=points)
    for kill_after, delay in zip(kill_points(points), delays):
        _start_and_kill(spec, out, kill_after, delay)
    committed = len(list(out.glob("runs/*/_*.json")))
    assert committed < 12, committed

    run_experiment(spec, executor="serial", out=out, log=lambda m: None)
    assert sidecar_hashes(out) == sidecar_hashes(reference)
    assert sorted(p.name for p in out.rglob("*.parquet")) == sorted(p.name for p in reference.rglob("*.parquet"))
    assert not list(out.rglob(".*tmp-*"))
    metrics = load_metrics(out)
    assert len(metrics) == len(load_metrics(reference))
    assert metrics.groupby(["scenario", "point_id", "replicate"]).ngroups == 12


def _session_processes(session: int) -> list[int]:
    """Process ids whose session is `session` (the experiment and any worker it started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to list processes")
def test_sigterm_stops_the_worker_processes_and_says_how_to_resume(tmp_path, tiny_reference):
    spec, reference = tiny_reference
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "experiment", str(spec), "--out", str(out),
                                "--workers", "2", "--no-report"], start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while time.time() < deadline and process.poll() is None and not list(out.glob("runs/*/_*.json")):
        time.sleep(0.02)
    assert process.poll() is None, process.communicate()
    assert len(_session_processes(process.pid)) >= 2  # the command and its workers
    process.send_signal(signal.SIGTERM)  # to the command only, as `kill -TERM <pid>` does
    _, stderr = process.communicate(timeout=60)
    time.sleep(0.5)
    leftover = _session_processes(process.pid)
    for pid in leftover:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert leftover == []
    assert process.returncode == 130, stderr
    # with tasks committed the log says "run the same command again to resume"; a loaded machine can
    # deliver the signal before the first commit, and then the closing message says it ("Run the ...")
    assert "Traceback" not in stderr and "run the same command again" in " ".join(stderr.split()).lower()
    assert not list(out.rglob(".*tmp-*"))
    run_experiment(spec, executor="serial", out=out, log=lambda m: None)
    assert sidecar_hashes(out) == sidecar_hashes(reference)


def test_rerunning_an_experiment_says_it_resumes(tiny_reference):
    spec, reference = tiny_reference
    messages = []
    run_experiment(spec, executor="serial", out=reference, log=messages.append)
    assert any("resuming" in m and "12 of 12" in m for m in messages), messages



def test_the_store_reads_with_plain_pandas_with_scenario_as_a_partition_column(tiny_reference):
    import pandas as pd

    _, reference = tiny_reference
    plain = pd.read_parquet(reference / "runs")
    assert set(plain["scenario"].astype(str)) == {"baseline", "reform"}
    assert len(plain) == len(load_metrics(reference))


def test_serial_local_processes_and_dask_give_identical_results(tmp_path, tiny_reference):
    spec, reference = tiny_reference
    expected = sidecar_hashes(reference)
    assert sidecar_hashes(run_experiment(spec, executor="local", workers=2, out=tmp_path / "local")) == expected
    assert sidecar_hashes(run_experiment(spec, executor="dask", workers=2, out=tmp_path / "dask")) == expected


def test_a_finished_experiment_is_not_rerun(tiny_reference):
    spec, reference = tiny_reference
    before = snapshot(reference)
    calls = []
    run_experiment(spec, executor="serial", out=reference, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(12, 12)]
    assert snapshot(reference) == before

