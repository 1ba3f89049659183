"""Calibration and backtesting: a fit improves the loss on a synthetic target and moves the
parameter toward the truth; calibrated configs load; the backtest config runs every series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.calibration.backtest import (
    BACKTEST_TARGETS,
    SERIES,
    backtest_errors,
    in_sample_targets,
    run_backtest,
)
from sim.calibration.fit import (
    Target,
    calibrate,
    custom_targets,
    evaluate_many,
    parameter_space,
    parse_targets,
    required_end,
    set_values,
    sidecar_path,
    write_calibrated_config,
)
from sim.calibration.targets import TARGETS
from sim.config import load_config, validate_config
from sim.experiments.executors import SerialExecutor

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "configs" / "baseline.yaml"
BACKTEST = REPO / "configs" / "backtest_2019.yaml"
PARAM = "requests.school_monthly_rate"
TRUTH = 0.008


def _request_target(value: float) -> Target:
    return Target("synthetic:requests", "requests 2025 from a run with a known rate", value, "per 1,000", 1.0,
                  "request_rate", "all", "all", "2025-01-01", "per 1,000 pupils per year", 1.0, "flow",
                  "synthetic", "none", "synthetic", csv_value=False)


@pytest.fixture(scope="module")
def tiny():
    return load_config(BASELINE, {"population": {"scale": 0.05}, "run": {"end": "2025-12"}})


@pytest.fixture(scope="module")
def fitted(tiny):
    """Synthetic truth: the request rate of a run with school_monthly_rate = TRUTH (same seeds as the
    fit, so the truth has loss 0); the fit starts from the default 0.0043."""
    payload = set_values(tiny.model_dump(mode="json"), {PARAM: TRUTH})
    probe = _request_target(0.0)
    values = evaluate_many({"truth": payload}, [probe], 1, tiny.run.seed, SerialExecutor())["truth"]
    target = _request_target(float(values[probe.id].mean()))
    result = calibrate(tiny, [target], parameters=[PARAM], budget=8, replicates=1, executor="serial", seed=3)
    return target, result


def test_fit_improves_loss_and_moves_toward_truth(tiny, fitted):
    target, result = fitted
    start = tiny.requests.school_monthly_rate
    assert result.initial_loss > 1.0  # the default is visibly off the synthetic target
    assert result.best_loss < result.initial_loss
    assert abs(result.best_params[PARAM] - TRUTH) < abs(start - TRUTH)
    assert len(result.history) == 8 and result.history["trial"].tolist() == list(range(8))
    assert result.history.loc[0, PARAM] == pytest.approx(start)
    assert list(result.fit["id"]) == [target.id] and np.isfinite(result.fit["model"]).all()


def test_calibrated_config_loads_with_fitted_values(fitted, tmp_path):
    _, result = fitted
    out = tmp_path / "sub" / "calibrated.yaml"
    write_calibrated_config(result, BASELINE, out)
    text = out.read_text()
    assert text.startswith("# Calibrated") and "loss" in text.splitlines()[3].lower()
    config = load_config(out)
    assert config.requests.school_monthly_rate == pytest.approx(result.best_params[PARAM])
    assert "fitted" in config.description
    record = json.loads(sidecar_path(out).read_text())
    assert record["loss_after"] <= record["loss_before"] and record["targets"] == ["synthetic:requests"]
    assert len(record["history"]) == 8


def test_confirmation_reruns_the_best_trials_and_the_start_on_fresh_replicates(tiny):
    """With `confirm`, the choice is made on replicates the search never saw: the start (trial 0)
    and the k trials of lowest search loss are re-run on replicates numbered after the search's,
    the kept trial is the best there, and the losses reported are those fresh ones (so the
    winner's curse of a noisy search does not decide the fit)."""
    probe = _request_target(0.0)
    payload = tiny.model_dump(mode="json")
    search = evaluate_many({0: payload}, [probe], 1, tiny.run.seed, SerialExecutor())[0]
    fresh = evaluate_many({0: payload}, [probe], 1, tiny.run.seed, SerialExecutor(), first_replicate=1)[0]
    assert list(fresh.index) == [1] and fresh[probe.id].iloc[0] != search[probe.id].iloc[0]
    target = _request_target(float(search[probe.id].mean()) * 1.5)
    result = calibrate(tiny, [target], parameters=[PARAM], budget=4, replicates=1, executor="serial", seed=3,
                       confirm=2, confirm_replicates=2)
    searched = result.history.sort_values(["loss", "trial"])["trial"].tolist()
    assert set(result.confirmed) == {0, *searched[:2]}
    assert result.best_trial in result.confirmed
    assert result.best_loss == pytest.approx(min(result.confirmed.values()))
    assert result.initial_loss == pytest.approx(result.confirmed[0])
    assert result.best_params[PARAM] == pytest.approx(float(result.history.loc[result.best_trial, PARAM]), rel=1e-3)


def test_parameter_space_uses_plausible_ranges():
    space = {p.path: p for p in parameter_space()}
    assert len(space) == 9
    assert (space["decision.refusal_intercept"].low, space["decision.refusal_intercept"].high) == (-2.0, 0.0)
    with pytest.raises(ValueError):
        parameter_space(["finance.independent_special_cost"])  # sourced, no plausible range
    with pytest.raises(ValueError):
        parameter_space(["requests.no_such_rate"])


def test_target_specs(tmp_path):
    assert len(parse_targets("all")) == 40
    assert [t.id for t in parse_targets("T002, sen2:requests_2025")] == ["T002", "sen2:requests_2025"]
    with pytest.raises(ValueError):
        parse_targets("T999")
    csv = tmp_path / "mine.csv"
    csv.write_text("id,metric,by,group,date,published,tolerance\nx,request_rate,all,all,2024-01-01,15.0,1.5\n")
    (custom,) = custom_targets(csv)
    assert custom.published == 15.0 and custom.metric == "request_rate" and custom.date == "2024-01-01"
    assert required_end(TARGETS) == "2026-03"  # the validation run's end: financial year 2025-26
    assert required_end(in_sample_targets()) == "2022-12"


def test_backtest_config_validates():
    config = load_config(BACKTEST)
    assert (config.run.start, config.run.end) == ("2019-01", "2025-12")
    assert config.census.ehcp_share == pytest.approx(0.031)
    assert config.census.sen_support_share == pytest.approx(0.119)
    ids = {t.id for t in BACKTEST_TARGETS}
    assert {f"ehcp_share:{y}" for y in range(2020, 2026)} <= ids
    assert all(t.id.split(":")[0] in SERIES for t in BACKTEST_TARGETS)


def test_tiny_backtest_returns_every_series_with_finite_errors():
    config = load_config(BACKTEST, {"population": {"scale": 0.03}})
    df = run_backtest(config, replicates=1, executor="serial")
    assert set(df["series"]) == set(SERIES)
    assert len(df) == len(BACKTEST_TARGETS)
    assert np.isfinite(df["abs_pct_error"]).all()
    errors = backtest_errors(df)
    assert set(errors["series"]) == set(SERIES)
    assert np.isfinite(errors["out_of_sample_mape"]).all()
    assert np.isfinite(errors[errors["series"] != "appeals"]["in_sample_mape"]).all()
    validate_config(config.model_dump(mode="json"))


def test_loss_weights_scale_each_term_and_default_to_one():
    import pandas as pd

    from sim.calibration.fit import loss_of

    first = _request_target(10.0)
    second = Target("synthetic:other", "another point", 4.0, "per 1,000", 1.0, "request_rate", "all", "all",
                    "2025-01-01", "per 1,000 pupils per year", 2.0, "flow", "synthetic", "none", "synthetic",
                    csv_value=False)
    values = pd.DataFrame({first.id: [11.0, 13.0], second.id: [8.0, 8.0]})  # errors 2 (tol 1) and 4 (tol 2)
    assert loss_of(values, [first, second]) == pytest.approx(4.0 + 4.0)
    assert loss_of(values, [first, second], {first.id: 0.5}) == pytest.approx(2.0 + 4.0)
    assert loss_of(values, [first, second], {first.id: 0.0, second.id: 3.0}) == pytest.approx(12.0)


def test_calibrate_refuses_negative_weights_and_an_empty_range(tiny):
    target = _request_target(5.0)
    with pytest.raises(ValueError, match="weights"):
        calibrate(tiny, [target], parameters=[PARAM], budget=1, executor="serial", weights={target.id: -1.0})
    with pytest.raises(ValueError, match="low < high"):
        calibrate(tiny, [target], parameters=[PARAM], budget=1, executor="serial", ranges={PARAM: (0.01, 0.01)})
