"""Calibration as a distribution: the ensemble file, and runs and comparisons over it.

What must hold: an ensemble built from a real calibration round-trips through its file; a bad
file is refused with the field named and nothing written; a comparison over an ensemble reports
combined (parameter + chance) intervals that contain the chance-only ones, a central value that
is the weighted mean of the members' own comparisons, and a combined interval that is strictly
wider when the members genuinely disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim.calibration.ensemble import (
    FORMAT,
    EnsembleError,
    from_calibration,
    load_ensemble,
    save_ensemble,
    validate_ensemble,
)
from sim.calibration.ensemble_runs import combine_cell, combine_members, compare_ensemble, weighted_quantile
from sim.calibration.fit import calibrate
from sim.calibration.targets import Target
from sim.cli import app
from sim.config import validate_config

PUPILS = 2000
TINY = {"population": {"pupils_per_council": PUPILS}, "run": {"end": "2025-12"}}
FEWER_REFUSALS = {**TINY, "name": "fewer_refusals", "decision": {"refusal_intercept": -2.5}}
runner = CliRunner()


def _ensemble_dict(**changes) -> dict:
    data = {
        "format": FORMAT, "created": "2026-01-01", "base_config": "tiny.yaml", "method": "two hand-set members",
        "targets": [], "implausibility_cutoff": 3.0, "cut_met": True,
        "members": [
            {"name": "few_requests", "weight": 0.5, "overrides": {"requests.school_monthly_rate": 0.002,
                                                                  "needs.onset_rate_per_year": 0.03}},
            {"name": "many_requests", "weight": 0.5, "overrides": {"requests.school_monthly_rate": 0.009,
                                                                   "needs.onset_rate_per_year": 0.05}},
        ],
    }
    data.update(changes)
    return data


# ---- the file ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def calibration():
    """A real (tiny) calibration of one lever to one synthetic target."""
    config = validate_config({**TINY, "run": {"end": "2025-12"}})
    target = Target("synthetic:requests", "requests 2025", 9.0, "per 1,000", 1.0, "request_rate", "all", "all",
                    "2025-01-01", "per 1,000 pupils per year", 2.0, "flow", "synthetic", "none", "synthetic",
                    csv_value=False)
    return calibrate(config, [target], parameters=["requests.school_monthly_rate"], budget=5, replicates=1,
                     executor="serial", seed=1)


def test_history_records_the_implausibility_of_every_trial(calibration):
    history = calibration.history
    assert "implausibility" in history.columns
    # one target: implausibility = |error| / tolerance, so loss = implausibility squared
    np.testing.assert_allclose(history["implausibility"] ** 2, history["loss"], rtol=1e-9)


def test_an_ensemble_from_a_calibration_round_trips_through_its_file(calibration, tmp_path):
    ensemble = from_calibration(calibration, "tiny.yaml", cutoff=1e6, min_members=2, max_members=3, seed=0)
    assert ensemble.cut_met and len(ensemble.members) == 3
    assert sum(m.weight for m in ensemble.members) == pytest.approx(1.0)
    assert ensemble.parameters == ["requests.school_monthly_rate"]
    path = save_ensemble(ensemble, tmp_path / "ensemble.yaml")
    again = load_ensemble(path)
    assert again == ensemble
    # every member is a trial of the calibration, with its own parameters and implausibility
    history = calibration.history.set_index("trial")
    for member in again.members:
        trial = int(member.name.removeprefix("trial_"))
        assert member.overrides["requests.school_monthly_rate"] == pytest.approx(
            history.loc[trial, "requests.school_monthly_rate"], rel=1e-5)
        assert member.implausibility == pytest.approx(history.loc[trial, "implausibility"])


def test_when_too_few_trials_pass_the_cut_the_least_implausible_are_kept_and_flagged(calibration):
    ensemble = from_calibration(calibration, "tiny.yaml", cutoff=1e-9, min_members=2, max_members=4)
    assert not ensemble.cut_met and len(ensemble.members) == 2
    best_two = sorted(calibration.history["implausibility"])[:2]
    assert [m.implausibility for m in ensemble.members] == pytest.approx(best_two)
    assert "least implausible" in ensemble.method


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["members"][1].update(weight=-0.5), "members[1].weight"),
    (lambda d: d["members"][0]["overrides"].update({"requests.school_montly_rate": 0.01}), "requests.school_montly_rate"),
    (lambda d: d["members"][0]["overrides"].update({"requests.school_monthly_rate": 3.0}), "requests.school_monthly_rate"),
    (lambda d: d["members"][0].update(weight=0.2), "weights must sum to 1"),
    (lambda d: d.update(format="something-else"), "format"),
    (lambda d: d.pop("members"), "members"),
    (lambda d: d["members"][0].update(colour="red"), "members[0].colour"),
])
def test_a_bad_ensemble_is_refused_with_the_field_named(change, field):
    data = _ensemble_dict()
    change(data)
    with pytest.raises(EnsembleError) as error:
        validate_ensemble(data, origin="bad.yaml")
    assert field in str(error.value) and "bad.yaml" in str(error.value)


def test_compare_with_a_bad_ensemble_exits_with_the_field_and_writes_nothing(tmp_path):
    data = _ensemble_dict()
    data["members"][0]["overrides"]["requests.school_monthly_rate"] = 3.0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"name": "base", **TINY}))
    out = tmp_path / "out"
    result = runner.invoke(app, ["compare", str(base), str(base), "--ensemble", str(bad), "--out", str(out)],
                           catch_exceptions=False)
    assert result.exit_code == 2
    assert "members[0]" in result.output and "requests.school_monthly_rate" in result.output
    assert not out.exists()


# ---- combining members --------------------------------------------------------------------------------
def test_weighted_quantiles_follow_the_weights():
    assert weighted_quantile([0.0, 10.0], [1.0, 1.0], 0.5) == pytest.approx(5.0)
    assert weighted_quantile([0.0, 10.0], [3.0, 1.0], 0.5) < 5.0
    assert weighted_quantile([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 0.0) == pytest.approx(1.0)


def test_combined_interval_equals_chance_when_members_agree_and_widens_when_they_do_not():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 1.0, 40)
    weights = {"a": 0.5, "b": 0.5}
    members = pd.Series(["a"] * 20 + ["b"] * 20)
    same = combine_cell(pd.Series(np.concatenate([noise[:20], noise[:20]])), members, weights)
    assert same["lo_combined"] == pytest.approx(same["lo"]) and same["hi_combined"] == pytest.approx(same["hi"])
    apart = combine_cell(pd.Series(np.concatenate([noise[:20] - 5.0, noise[:20] + 5.0])), members, weights)
    assert apart["mean"] == pytest.approx(same["mean"])
    assert apart["hi"] - apart["lo"] == pytest.approx(same["hi"] - same["lo"])  # chance alone is unchanged
    assert apart["hi_combined"] - apart["lo_combined"] > 3 * (apart["hi"] - apart["lo"])


def _combined_one_cell_at_a_time(values: np.ndarray, members: np.ndarray, weights: dict[str, float]) -> dict:
    """The module's definition written out plainly, for one cell: member means, their weighted
    mean, values centred on their member's mean and shifted to it, weighted quantiles."""
    keep = np.isfinite(values)
    values, members = values[keep], members[keep]
    names = sorted(set(members))
    mean = {name: values[members == name].mean() for name in names}
    count = {name: (members == name).sum() for name in names}
    centre = sum(mean[n] * weights[n] for n in names) / sum(weights[n] for n in names)
    row_weight = np.array([weights[m] / count[m] for m in members])
    centred = values - np.array([mean[m] for m in members]) + centre
    lo, hi = weighted_quantile(centred, row_weight, 0.025), weighted_quantile(centred, row_weight, 0.975)
    return {"mean": centre, "lo": lo, "hi": hi,
            "lo_combined": min(lo, weighted_quantile(values, row_weight, 0.025)),
            "hi_combined": max(hi, weighted_quantile(values, row_weight, 0.975))}


def test_all_cells_combined_at_once_equal_each_cell_combined_alone_and_the_plain_definition():
    rng = np.random.default_rng(3)
    names = [f"m{i:02d}" for i in range(11)]
    weights = {name: float(w) for name, w in zip(names, rng.random(len(names)))}
    rows = [{"member": name, "replicate": r, "metric": metric, "group": group,
             "value": rng.normal() * 10.0 ** rng.integers(-3, 4) if rng.random() > 0.05 else np.nan}
            for name in names for r in range(4) for metric in ("a", "b") for group in ("1", "2", "3")
            if rng.random() > 0.15]
    tidy = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # cells interleaved, members in no order
    tidy.loc[tidy.index[0], "value"] = np.inf  # not finite: left out of the cell's values, still counted
    together = combine_members(tidy, ["metric", "group"], weights)
    assert len(together) == 6 and together["replicates"].sum() == len(tidy)
    for _, row in together.iterrows():
        part = tidy[(tidy["metric"] == row["metric"]) & (tidy["group"] == row["group"])]
        alone = combine_cell(part["value"], part["member"], weights)
        assert alone == {name: row[name] for name in alone}  # to the last bit
        plain = _combined_one_cell_at_a_time(part["value"].to_numpy(), part["member"].to_numpy(), weights)
        assert alone == pytest.approx(plain, rel=1e-12, abs=1e-12)
        assert row["members"] == part["member"].nunique() and row["replicates"] == len(part)


@pytest.fixture(scope="module")
def ensemble_comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("ens") / "cmp"
    ensemble = validate_ensemble(_ensemble_dict())
    result = compare_ensemble(validate_config({**TINY, "name": "tiny"}), validate_config(FEWER_REFUSALS), ensemble,
                              2, out, workers=1, small_cell=10)
    return out, result


def test_compare_over_an_ensemble_writes_combined_intervals_containing_the_chance_ones(ensemble_comparison):
    out, _ = ensemble_comparison
    assert {"equity.csv", "equity.parquet", "costs.csv", "ensemble.yaml", "report.md", "manifest.json"} <= \
        {p.name for p in out.iterdir()}
    equity = pd.read_csv(out / "equity.csv")
    for column in ("change_lo_combined", "change_hi_combined", "members", "interval"):
        assert column in equity.columns
    shown = equity[~equity["suppressed"]].dropna(subset=["change"])
    assert len(shown) > 10
    assert (shown["change_lo_combined"] <= shown["change_lo"] + 1e-12).all()
    assert (shown["change_hi_combined"] >= shown["change_hi"] - 1e-12).all()
    assert (shown["change_lo"] <= shown["change"] + 1e-12).all() and (shown["change"] <= shown["change_hi"] + 1e-12).all()
    assert (shown["members"] == 2).all() and (shown["replicates"] == 2).all()
    assert shown["interval"].str.contains("parameter and stochastic").all()
    # the members disagree about request rates, so somewhere parameters widen the interval
    assert ((shown["change_hi_combined"] - shown["change_lo_combined"])
            > (shown["change_hi"] - shown["change_lo"]) + 1e-9).any()
    report = (out / "report.md").read_text()
    assert "chance + parameters" in report and "few_requests" in report and "many_requests" in report
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["members"] == ["few_requests", "many_requests"] and manifest["replicates_per_member"] == 2


def test_the_ensemble_change_is_the_weighted_mean_of_the_members_own_comparisons(ensemble_comparison):
    out, _ = ensemble_comparison
    keys = ["metric", "by", "group"]
    equity = pd.read_csv(out / "equity.csv").set_index(keys)
    members = [pd.read_csv(out / "members" / name / "equity.csv").set_index(keys)
               for name in ("few_requests", "many_requests")]
    both = equity[~equity["suppressed"]].index.intersection(members[0].dropna(subset=["change"]).index) \
        .intersection(members[1].dropna(subset=["change"]).index)
    assert len(both) > 10
    expected = 0.5 * members[0].loc[both, "change"] + 0.5 * members[1].loc[both, "change"]
    np.testing.assert_allclose(equity.loc[both, "change"], expected, rtol=1e-9, atol=1e-12)
    # the members really differ: more school requests -> a different baseline
    assert not np.allclose(members[0].loc[both, "baseline"], members[1].loc[both, "baseline"])


def test_run_with_an_ensemble_writes_a_summary_with_both_intervals(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"name": "tiny", **TINY}))
    ens = tmp_path / "ens.yaml"
    ens.write_text(yaml.safe_dump(_ensemble_dict()))
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(config), "--ensemble", str(ens), "--replicates", "2", "--workers", "1",
                                 "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary_ensemble.csv")
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert set(metrics["member"]) == {"few_requests", "many_requests"}
    rows = summary[(summary["metric"] == "request_rate") & (summary["by"] == "all")]
    assert len(rows) and (rows["lo_combined"] <= rows["lo"]).all() and (rows["hi_combined"] >= rows["hi"]).all()
    # more school requests in one member: the combined interval of requests is wider than chance alone
    assert ((rows["hi_combined"] - rows["lo_combined"]) > (rows["hi"] - rows["lo"])).all()
    assert Path(out / "ensemble.yaml").is_file()


def test_a_reform_keeps_its_own_value_of_a_lever_it_changes_and_takes_the_members_other_values():
    from sim.calibration.ensemble_runs import reform_for_member

    ensemble = validate_ensemble(_ensemble_dict())
    member = ensemble.members[1]
    baseline = validate_config(TINY)
    reform = validate_config({**TINY, "requests": {"school_monthly_rate": 0.004}})
    at_member, kept = reform_for_member(baseline, reform, member)
    assert kept == ["requests.school_monthly_rate"]
    assert at_member.requests.school_monthly_rate == 0.004  # the reform's own change survives
    assert at_member.needs.onset_rate_per_year == member.overrides["needs.onset_rate_per_year"]
