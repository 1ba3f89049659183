"""The experiment engine's specs, designs and store: specs fail loudly, designs have the right
size, and the store never trusts or overwrites what it should not; the sensitivity chain is
checked end to end on the Ishigami function, whose Sobol' indices are known. (Runs, resumes and
executors are in test_experiments.py.)
"""

from __future__ import annotations

import time

import pytest

from sim.config import ConfigError
from sim.experiments.design import build_tasks, design_table, expected_points, interleaved_order, salib_problem
from sim.experiments.engine import run_experiment
from sim.experiments.runner import replicate_seed
from sim.experiments.spec import load_experiment
from sim.experiments.store import StoreError, load_design, load_metrics
from tests.experiment_helpers import CONFIGS, ROOT, TINY, ishigami_spec, sidecar_hashes, snapshot, write


# ---- the spec ---------------------------------------------------------------------------------
def test_an_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="replicats"):
        load_experiment(write(tmp_path, TINY + "replicats: 3\n"))
    with pytest.raises(ConfigError, match=r"design\.sampels"):
        load_experiment(write(tmp_path, TINY.replace("samples: 3", "sampels: 3")))


@pytest.mark.parametrize(("old", "new", "message"), [
    # an unknown parameter path is named
    ("identification.advocacy_effect", "identification.advocacy_efect", r"identification\.advocacy_efect.*not a parameter"),
    # a range outside the hard bounds names the path and the allowed range
    ("identification.advocacy_effect: {}", "identification.advocacy_effect: {low: -1, high: 1}",
     r"identification\.advocacy_effect.*allowed range \[0\.0, 5\.0\]"),
    # a strict lower bound is respected
    ("identification.advocacy_effect: {}", "reform.family_pressure_strength: {low: 0, high: 1}",
     r"reform\.family_pressure_strength.*\(0\.0, 3\.0\]"),
    # a non-numeric parameter cannot be an uncertainty
    ("identification.advocacy_effect: {}", "run.route: {}", r"run\.route.*not numeric"),
], ids=["unknown-path", "outside-hard-bounds", "strict-lower-bound", "not-numeric"])
def test_a_bad_uncertainty_is_refused_with_the_path_named(tmp_path, old, new, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(write(tmp_path, TINY.replace(old, new)))


def test_an_empty_range_takes_the_plausible_range_from_the_metadata(tmp_path):
    spec = load_experiment(write(tmp_path, TINY))
    (uncertainty,) = spec.uncertainties
    assert (uncertainty.low, uncertainty.high) == (0.3, 1.5)


def test_scenario_overrides_and_inline_diffs_are_resolved(tmp_path):
    text = TINY.replace(
        f"reform: {{config: {CONFIGS / 'reform_white_paper.yaml'}}}",
        f"slow: {{extends: {CONFIGS / 'baseline.yaml'}, reform: {{inclusion_base_rollout_years: 8}}}}",
    )
    spec = load_experiment(write(tmp_path, text))
    assert spec.scenarios["slow"]["reform"]["inclusion_base_rollout_years"] == 8
    assert spec.scenarios["slow"]["name"] == "slow"
    assert all(cfg["population"]["scale"] == 0.03 and cfg["run"]["end"] == "2025-12" for cfg in spec.scenarios.values())


def test_a_lever_value_the_model_would_reject_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"levers\.run\.route = 'fast'"):
        load_experiment(write(tmp_path, TINY + "levers:\n  run.route: [ehcp, fast]\n"))


# ---- the design -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("design", "levers", "points"),
    [
        ("{method: grid}", "levers:\n  reform.inclusion_base_rollout_years: [3, 5, 8]\n  run.route: [ehcp, tiered]\n", 6),
        ("{method: latin_hypercube, samples: 5}", "levers:\n  run.route: [ehcp, tiered]\n", 10),
        ("{method: morris, samples: 3, levels: 4}", "", 3 * (2 + 1)),
        ("{method: sobol, samples: 8}", "", 8 * (2 + 2)),
        ("{method: sobol, samples: 8, calc_second_order: true}", "", 8 * (2 * 2 + 2)),
    ],
)
def test_design_sizes_follow_the_method(tmp_path, design, levers, points):
    uncertainties = "" if "grid" in design else ("uncertainties:\n  identification.advocacy_effect: {}\n  population.family_ties: {}\n")
    text = f"name: sizes\nscenarios:\n  baseline: {{config: {CONFIGS / 'baseline.yaml'}}}\n{uncertainties}design: {design}\n{levers}"
    spec = load_experiment(write(tmp_path, text))
    table = design_table(spec)
    assert len(table) == points == expected_points(spec)
    assert list(table["point_id"]) == list(range(points))
    assert table.equals(design_table(load_experiment(spec.path)))  # deterministic from the seed
    if "family_ties" in table:
        assert (table["population.family_ties"] == table["population.family_ties"].round()).all()


def test_sobol_samples_must_be_a_power_of_two(tmp_path):
    with pytest.raises(ConfigError, match="power of 2"):
        load_experiment(write(tmp_path, ishigami_spec(samples=100)))


def test_task_ids_are_stable_unique_and_ordered_for_partial_coverage(tmp_path):
    spec = load_experiment(write(tmp_path, TINY))
    tasks = build_tasks(spec, design_table(spec))
    again = build_tasks(load_experiment(spec.path), design_table(spec))
    assert [t.task_id for t in tasks] == [t.task_id for t in again]
    assert len({t.task_id for t in tasks}) == len(tasks) == 12
    assert [t.replicate for t in tasks] == sorted(t.replicate for t in tasks)  # replicate-major
    for first, second in zip(tasks[::2], tasks[1::2]):  # paired scenarios adjacent
        assert (first.point_id, first.replicate) == (second.point_id, second.replicate)
        assert (first.scenario, second.scenario) == ("baseline", "reform")
    assert {t.seed for t in tasks if t.replicate == 1} == {replicate_seed(7, 1)}  # common random numbers
    assert interleaved_order(8) == [0, 4, 2, 6, 1, 5, 3, 7]
    assert sorted(interleaved_order(11)) == list(range(11))


def test_council_blocks_split_a_multi_council_scenario(tmp_path):
    text = f"""
    name: blocks
    scenarios:
      two: {{extends: {CONFIGS / "baseline.yaml"}, population: {{councils: 2}}}}
    councils_per_block: 1
    scale: 0.03
    end: "2025-12"
    outputs: [ehcp_share_pupils]
    """
    out = run_experiment(write(tmp_path, text), executor="serial", out=tmp_path / "out")
    metrics = load_metrics(out)
    assert sorted(metrics["block"].unique()) == [0, 1]
    assert set(metrics["metric"]) == {"ehcp_share_pupils"}
    councils = metrics[metrics["by"] == "council"].groupby("block")["group"].unique()
    assert list(councils[0]) == ["0"] and list(councils[1]) == ["1"]


# ---- the store: copied, tampered, unreachable ------------------------------------------------


def test_another_tasks_files_copied_over_a_task_are_detected(tmp_path):
    spec = write(tmp_path, ishigami_spec())
    out = run_experiment(spec, executor="serial", out=tmp_path / "out")
    original = sidecar_hashes(out)
    first, second = sorted((out / "runs").glob("scenario=*/*.parquet"))[:2]
    second.write_bytes(first.read_bytes())
    second.with_name(f"_{second.stem}.json").write_bytes(first.with_name(f"_{first.stem}.json").read_bytes())
    problems = []
    run_experiment(spec, executor="serial", out=out, log=problems.append)
    assert any(second.name in p and "belongs to task" in p for p in problems), problems
    assert sidecar_hashes(out) == original


def test_an_unreachable_scheduler_fails_fast_with_a_message(tmp_path, monkeypatch):
    """The wait for a scheduler is bounded by `SCHEDULER_TIMEOUT_SECONDS` (checked to stay well
    under the 30 s allowed here); the run itself waits 1 s of it, not the default 10 s of nothing."""
    from sim.experiments import executors
    from sim.experiments.executors import ExecutorError

    assert executors.SCHEDULER_TIMEOUT_SECONDS < 30
    monkeypatch.setattr(executors, "SCHEDULER_TIMEOUT_SECONDS", 1)
    started = time.time()
    with pytest.raises(ExecutorError, match="cannot reach the dask scheduler at 'tcp://127.0.0.1:9' within 1 s"):
        run_experiment(write(tmp_path, ishigami_spec()), executor="dask", scheduler="tcp://127.0.0.1:9", out=tmp_path / "out")
    assert time.time() - started < 30
    assert not (tmp_path / "out").exists()  # the store it created is removed: nothing to resume


def test_workers_are_capped_by_the_cores():
    from sim.experiments.executors import LocalExecutor, default_workers

    executor = LocalExecutor(workers=1000)
    try:
        assert executor.workers == default_workers()
    finally:
        executor.close()


# ---- refusing directories ----------------------------------------------------------------------
def test_a_foreign_directory_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"years of work")
    with pytest.raises(StoreError, match="not a sendsim experiment directory"):
        run_experiment(write(tmp_path, ishigami_spec()), executor="serial", out=out)
    assert snapshot(out) == {"thesis.docx": b"years of work"}


def test_a_corrupted_results_directory_is_refused_and_left_untouched(tmp_path):
    spec = write(tmp_path, ishigami_spec())
    out = run_experiment(spec, executor="serial", out=tmp_path / "out")
    manifest = out / "manifest.json"
    manifest.write_text(manifest.read_text()[:100])
    before = snapshot(out)
    with pytest.raises(StoreError, match="corrupted"):
        run_experiment(spec, executor="serial", out=out)
    assert snapshot(out) == before


def test_a_different_experiment_is_refused(tmp_path):
    out = run_experiment(write(tmp_path, ishigami_spec()), executor="serial", out=tmp_path / "out")
    before = snapshot(out)
    changed = write(tmp_path, ishigami_spec(replicates="2"), name="changed.yaml")
    with pytest.raises(StoreError, match="different experiment"):
        run_experiment(changed, executor="serial", out=out)
    assert snapshot(out) == before


def test_a_tampered_task_is_detected_on_resume_and_rerun(tmp_path):
    spec = write(tmp_path, ishigami_spec())
    out = run_experiment(spec, executor="serial", out=tmp_path / "out")
    original = sidecar_hashes(out)
    victim = sorted((out / "runs").glob("scenario=*/*.parquet"))[3]
    good = victim.read_bytes()
    import pandas as pd

    frame = pd.read_parquet(victim)
    frame["value"] = frame["value"] + 1.0
    frame.to_parquet(victim, index=False)
    problems = []
    run_experiment(spec, executor="serial", out=out, log=problems.append)
    problems = [p for p in problems if not p.startswith("resuming")]
    assert len(problems) == 1 and victim.name in problems[0] and "re-run" in problems[0]
    assert victim.read_bytes() == good
    assert sidecar_hashes(out) == original


# ---- the sensitivity chain end to end ----------------------------------------------------------
def test_the_ishigami_experiment_recovers_the_known_sobol_indices(tmp_path, monkeypatch):
    """The 1,280 tasks go through the real store; only its fsync calls (two or three per task,
    most of this test's wall time on a slow disk) are skipped: they guard against a power cut,
    which no test here makes, and the tests that kill runs mid-write use the real store."""
    from SALib.analyze import sobol

    from sim.experiments import store

    monkeypatch.setattr(store.os, "fsync", lambda fd: None)
    spec = load_experiment(ROOT / "experiments" / "ishigami.yaml")
    out = run_experiment(spec.path, executor="serial", out=tmp_path / "ishigami")
    design, metrics = load_design(out), load_metrics(out, metrics=["ishigami"], by="all")
    values = design.merge(metrics[["point_id", "value"]], on="point_id", validate="one_to_one").sort_values("point_id")
    assert len(values) == expected_points(spec) == 256 * 5
    indices = sobol.analyze(salib_problem(spec), values["value"].to_numpy(), calc_second_order=False, seed=1)
    assert indices["S1"] == pytest.approx([0.314, 0.442, 0.0], abs=0.1)
    assert indices["ST"] == pytest.approx([0.558, 0.442, 0.244], abs=0.15)
