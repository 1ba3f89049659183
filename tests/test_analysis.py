"""Experiment analysis (sim.experiments.analysis) and its report (sim.report.experiment_report).

The sensitivity pipeline is checked on a function whose answer is known exactly: Ishigami,
Y = sin(x1) + 7 sin²(x2) + 0.1 x3⁴ sin(x1) with x uniform on [-π, π], run through a results
store built by hand in the experiment engine's layout (manifest.json, design.parquet,
runs/scenario=<name>/<task>.parquet). If the indices come back right from the store, the
analysis reads designs, aligns points and averages replicates correctly. The paired outcomes
are checked on two tiny real model runs: a reform that changes policy gives finite changes, a
reform that changes nothing gives exactly zero (common random numbers).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from sim.config import validate_config
from sim.experiments.analysis import (
    HEADLINE_OUTCOMES,
    metric_outcomes,
    paired_outcomes,
    replicate_check,
    sensitivity,
    summarise_runs,
)
from sim.metrics import compute_metrics
from sim.model import SendModel
from sim.report.experiment_report import read_store, write_experiment_report

PROBLEM = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-math.pi, math.pi]] * 3}
SOBOL_N = 1024
DESIGN_SEED = 12345
# Analytic Ishigami indices for a = 7, b = 0.1 (Saltelli et al. 2008, Global Sensitivity Analysis, §4.1)
TRUE_S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
TRUE_ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}


def ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def build_store(root, method: str, x: np.ndarray, points_per_task: int = 1) -> None:
    """A results store in the engine's layout, one replicate per point, metric `ishigami` (by=all)."""
    root.mkdir(parents=True)
    manifest = {"kind": "sendsim-experiment", "name": f"ishigami_{method}", "experiment_sha256": "0" * 64,
                "design": {"method": method, "problem": PROBLEM, "seed": DESIGN_SEED},
                "seeds": {"root": 1}, "versions": {"sendsim": "test"}, "git": {"commit": "test", "dirty": False}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    design = pd.DataFrame(x, columns=PROBLEM["names"])
    design.insert(0, "point_id", np.arange(len(x)))
    design.to_parquet(root / "design.parquet", index=False)
    runs = root / "runs" / "scenario=ishigami"
    runs.mkdir(parents=True)
    y = ishigami(x)
    for start in range(0, len(x), points_per_task):
        ids = np.arange(start, min(start + points_per_task, len(x)))
        task = f"ishigami-{start:05d}"
        pd.DataFrame({"date": pd.Timestamp("2025-01-01"), "metric": "ishigami", "by": "all", "group": "all",
                      "value": y[ids], "task_id": task, "point_id": ids, "replicate": 0, "block": 0},
                     ).to_parquet(runs / f"{task}.parquet", index=False)


@pytest.fixture(scope="module")
def sobol_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiments") / "ishigami_sobol"
    x = sobol_sample.sample(PROBLEM, SOBOL_N, calc_second_order=False, seed=DESIGN_SEED)
    build_store(root, "sobol", x, points_per_task=64)  # 80 task files (one per point would be 5,120: slow to write)
    return root


@pytest.fixture(scope="module")
def morris_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiments") / "ishigami_morris"
    x = morris_sample.sample(PROBLEM, 100, num_levels=4, seed=DESIGN_SEED)
    build_store(root, "morris", x, points_per_task=4)  # one task per Morris trajectory
    return root


def _indices(store) -> tuple[pd.DataFrame, dict]:
    manifest, design, runs = read_store(store)
    outcomes = metric_outcomes(runs, ["ishigami"])
    problem = manifest["design"]["problem"]
    return sensitivity(design, outcomes, problem, manifest["design"]["method"]), manifest


# ---- sensitivity ---------------------------------------------------------------------------------
def test_sobol_indices_read_from_a_results_store_recover_the_known_ishigami_indices(sobol_store):
    indices, _ = _indices(sobol_store)
    assert set(indices["index"]) == {"S1", "ST"}
    for index, truth in (("S1", TRUE_S1), ("ST", TRUE_ST)):
        for name, value in truth.items():
            row = indices[(indices["parameter"] == name) & (indices["index"] == index)].iloc[0]
            # SALib's own bootstrap half-width sets the tolerance; 0.02 covers the estimator's small bias
            assert abs(row["value"] - value) < 3 * row["conf"] + 0.02, (index, name, row["value"], row["conf"])


def test_morris_screening_ranks_x1_and_x2_above_x3(morris_store):
    indices, _ = _indices(morris_store)
    mu_star = indices[indices["index"] == "mu_star"].set_index("parameter")["value"]
    assert mu_star["x1"] > mu_star["x3"] and mu_star["x2"] > mu_star["x3"]
    assert (indices.loc[indices["index"] == "mu_star", "conf"] >= 0).all()


def test_outcomes_are_averaged_over_replicates_before_the_sensitivity_analysis():
    x = morris_sample.sample(PROBLEM, 20, num_levels=4, seed=1)
    design = pd.DataFrame(x, columns=PROBLEM["names"]).assign(point_id=np.arange(len(x)))
    y = ishigami(x)
    noise = np.array([-1.0, 1.0])  # symmetric replicate noise cancels in the per-point mean
    outcomes = pd.DataFrame({"point_id": np.repeat(design["point_id"], 2), "replicate": np.tile([0, 1], len(x)),
                             "y": np.repeat(y, 2) + np.tile(noise, len(x))})
    clean = pd.DataFrame({"point_id": design["point_id"], "y": y})
    a = sensitivity(design, outcomes, PROBLEM, "morris")
    b = sensitivity(design, clean, PROBLEM, "morris")
    np.testing.assert_allclose(a["value"].to_numpy(), b["value"].to_numpy(), rtol=1e-12)


def test_a_design_with_missing_points_is_refused(morris_store):
    manifest, design, runs = read_store(morris_store)
    outcomes = metric_outcomes(runs, ["ishigami"]).iloc[:-1]
    with pytest.raises(ValueError, match="no outcomes"):
        sensitivity(design, outcomes, manifest["design"]["problem"], "morris")


# ---- replicate counts ----------------------------------------------------------------------------
def test_replicate_check_gives_the_textbook_t_interval_and_sample_size():
    rng = np.random.default_rng(7)
    values = rng.normal(10.0, 2.0, size=10)
    check = replicate_check({"outcome": values}, precision=0.5).iloc[0]
    s = values.std(ddof=1)
    t = 2.2621571627409915  # t_{0.975, 9}, from tables
    assert check["n"] == 10
    assert check["t"] == pytest.approx(t, rel=1e-9)
    assert check["half_width"] == pytest.approx(t * s / math.sqrt(10), rel=1e-9)
    assert check["replicates_needed"] == math.ceil((t * s / 0.5) ** 2)
    # the classic unit case: s = 1, n = 10, h = 0.5 -> ceil((2.262 / 0.5)^2) = 21 replicates
    unit = np.array([-1.0, 1.0] * 5) / np.std([-1.0, 1.0] * 5, ddof=1)
    row = replicate_check({"z": unit}, precision=0.5).iloc[0]
    assert row["sd"] == pytest.approx(1.0)
    assert row["half_width"] == pytest.approx(0.7153, abs=1e-4)
    assert row["replicates_needed"] == 21 and not row["enough"]


def test_replicate_check_asks_for_at_least_two_replicates_and_works_per_point():
    frame = pd.DataFrame({"point_id": [0, 0, 0, 1, 1, 1], "replicate": [0, 1, 2] * 2,
                          "a": [1.0, 1.0, 1.0, 0.0, 2.0, 4.0]})
    check = replicate_check(frame, {"a": 0.1}).set_index("point_id")
    assert check.loc[0, "half_width"] == 0 and check.loc[0, "replicates_needed"] == 2 and check.loc[0, "enough"]
    assert check.loc[1, "replicates_needed"] > 3
    single = replicate_check({"a": [1.0]}, 0.1).iloc[0]
    assert math.isnan(single["half_width"]) and pd.isna(single["replicates_needed"])


# ---- paired outcomes on the real model -----------------------------------------------------------
PUPILS = 3000
END = "2026-12"
BASE = {"population": {"pupils_per_council": PUPILS}, "run": {"end": END}}


def _run(data: dict, scenario: str, point_id: int = 0) -> pd.DataFrame:
    metrics = compute_metrics(SendModel(validate_config(data)).run())
    return metrics.assign(scenario=scenario, point_id=point_id, replicate=0, block=0, task_id=f"{scenario}-{point_id}")


@pytest.fixture(scope="module")
def model_runs() -> pd.DataFrame:
    return pd.concat([
        _run(BASE, "baseline"),
        _run({**BASE, "decision": {"refusal_intercept": -2.5}}, "fewer_refusals"),  # councils refuse fewer requests
        _run(BASE, "no_change"),
    ], ignore_index=True)


def test_paired_outcomes_of_a_policy_change_are_finite(model_runs):
    paired = paired_outcomes(model_runs, "baseline", "fewer_refusals")
    assert list(paired.columns) == ["point_id", "replicate", *[o.name for o in HEADLINE_OUTCOMES]]
    assert len(paired) == 1
    values = paired[[o.name for o in HEADLINE_OUTCOMES]].to_numpy()
    assert np.isfinite(values).all()
    assert paired["change_cost"].iloc[0] != 0  # more plans cost the high-needs block more


def test_a_reform_that_changes_nothing_changes_every_headline_outcome_by_exactly_zero(model_runs):
    paired = paired_outcomes(model_runs, "baseline", "no_change")
    assert (paired[[o.name for o in HEADLINE_OUTCOMES]].to_numpy() == 0).all()


def test_a_baseline_run_once_pairs_with_every_design_point(model_runs):
    base = model_runs[model_runs["scenario"] == "baseline"]
    reform = model_runs[model_runs["scenario"] == "fewer_refusals"]
    frame = pd.concat([base, reform.assign(point_id=0), reform.assign(point_id=1)], ignore_index=True)
    paired = paired_outcomes(frame, "baseline", "fewer_refusals")
    assert list(paired["point_id"]) == [0, 1]
    assert paired.iloc[0, 2:].tolist() == paired.iloc[1, 2:].tolist()


def test_summarise_runs_keeps_scenarios_and_points_apart(model_runs):
    summary = summarise_runs(model_runs)
    assert {"scenario", "point_id", "date", "metric", "by", "group", "mean", "lo", "hi", "n"} <= set(summary.columns)
    assert set(summary["scenario"]) == {"baseline", "fewer_refusals", "no_change"}
    row = summary[(summary["metric"] == "ehcp_share_pupils") & (summary["by"] == "all")].iloc[0]
    assert row["lo"] == row["mean"] == row["hi"] and row["n"] == 1


# ---- the report ----------------------------------------------------------------------------------
def test_the_experiment_report_is_written_with_its_sensitivity_figure(sobol_store):
    md, html = write_experiment_report(sobol_store)
    assert md.is_file() and html.is_file()
    text = md.read_text()
    for section in ("Where these numbers come from", "The design", "Headline metrics", "enough replicates",
                    "sensitivity indices"):
        assert section in text
    assert (sobol_store / "figures" / "sensitivity_sobol.png").stat().st_size > 10_000
    assert "figures/sensitivity_sobol.png" in md.read_text() and "data:image/png;base64," in html.read_text()
    saved = pd.read_csv(sobol_store / "analysis" / "sensitivity.csv")
    assert set(saved["parameter"]) == {"x1", "x2", "x3"}


def test_the_experiment_report_shows_paired_outcomes_when_a_baseline_and_reform_ran(tmp_path, model_runs):
    root = tmp_path / "pair"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"kind": "sendsim-experiment", "name": "pair",
                                                    "design": {"method": "none"}}))
    for scenario in ("baseline", "fewer_refusals"):
        directory = root / "runs" / f"scenario={scenario}"
        directory.mkdir(parents=True)
        rows = model_runs[model_runs["scenario"] == scenario].drop(columns="scenario")
        rows.to_parquet(directory / f"{scenario}-0.parquet", index=False)
    md, _ = write_experiment_report(root)
    text = md.read_text()
    assert "What the reform changes" in text and "Change in the FSM gap in unmet-need months" in text
    assert (root / "figures" / "paired_outcomes.png").is_file()


def test_a_design_crossing_levers_is_analysed_once_per_lever_setting():
    x = morris_sample.sample(PROBLEM, 20, num_levels=4, seed=2)
    one = pd.DataFrame(x, columns=PROBLEM["names"])
    design = pd.concat([one.assign(**{"run.route": "ehcp"}), one.assign(**{"run.route": "tiered"})], ignore_index=True)
    design.insert(0, "point_id", np.arange(len(design)))
    outcomes = pd.DataFrame({"point_id": design["point_id"], "y": np.tile(ishigami(x), 2)})
    indices = sensitivity(design, outcomes, PROBLEM, "morris")
    assert set(indices["run.route"]) == {"ehcp", "tiered"}
    by_setting = [rows["value"].to_numpy() for _, rows in indices.groupby("run.route")]
    np.testing.assert_allclose(by_setting[0], by_setting[1])
