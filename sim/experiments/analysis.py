"""What an experiment's runs say: summaries, paired reform effects, replicate counts, sensitivity.

Reads the tidy metrics of a results store (`pd.read_parquet(out / "runs")`: date, metric, by,
group, value, plus task_id, scenario, point_id, replicate, block) and answers four questions:

- `summarise_runs`: what each scenario gives at each design point — mean and 95% replicate
  interval (2.5th-97.5th percentile of per-replicate values, as `sim.metrics.summarise`).
- `paired_outcomes`: what the reform changes, relative to the baseline run with the same
  replicate seed (common random numbers, `sim.experiments.compare`): the change in the FSM
  gap in unmet need and in KS4 English and maths, and in spending per pupil. Each change is
  computed inside a replicate and only then summarised (docs/MODEL.md).
- `replicate_check`: are there enough replicates? The t-based 95% half-width of each outcome's
  mean, and the replicates needed to reach a requested half-width.
- `sensitivity`: which uncertain parameters drive the result — Morris elementary effects
  (screening) or Sobol indices (variance shares), via SALib, on the per-point mean outcome.

Nothing here runs the model; the experiment engine writes the store, `sim.report.experiment_report`
turns these tables into a report.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from scipy import stats

from sim.metrics.registry import EXPERIMENT_OUTCOMES
from sim.metrics.summarise import KEYS

LEVEL = 0.95
# The first calendar year the tiered route is fully in force: the legal switch is September 2029
# (configs/reform_white_paper.yaml, White Paper [proposal]), so 2030 is the first whole post-switch year.
POST_SWITCH_YEAR = 2030
MIN_REPLICATES = 2  # a spread, and so an interval, needs at least two replicates
ID_COLUMNS = ("task_id", "scenario", "point_id", "replicate", "block")
RUN_KEYS = ["scenario", "point_id", "replicate"]


# The headline outcomes of a reform (reform minus baseline inside one replicate): name, label,
# unit and the direction good for children or the public purse come from the metric registry.
HEADLINE_OUTCOMES = EXPERIMENT_OUTCOMES
OUTCOME_BY_NAME = {o.name: o for o in HEADLINE_OUTCOMES}

# Half-widths worth resolving, used when a report has no requested precision: a twentieth of a
# month of unmet need per child a year, half a percentage point of KS4 pass rate, £10 per pupil
# a year (under 1% of high-needs spend per pupil). Judgements, stated so they can be changed.
DEFAULT_PRECISION: dict[str, float] = {"change_access_gap": 0.05, "change_access_gap_at_equal_need": 0.1,
                                       "change_ks4_gap": 0.5, "change_cost": 10.0}


# ---- helpers -----------------------------------------------------------------------------------
def _with_run_keys(metrics: pd.DataFrame) -> pd.DataFrame:
    """The store's tidy metrics, one value per run (scenario, point_id, replicate) and metric row.

    A single run's metrics (no point_id or replicate column) count as point 0, replicate 0;
    `scenario` arrives as a categorical from the hive-partitioned store and becomes text.
    A replicate split into council blocks (`block`) has one value per block for whole-population
    rows: they are averaged with equal weight (blocks are equal-sized groups of typical
    councils). Block seeds are shared across scenarios, so a difference of block means equals
    the mean of the block-by-block paired differences. Council rows appear in one block only.
    """
    frame = metrics.copy()
    if "scenario" not in frame.columns:
        raise ValueError("metrics need a `scenario` column (read the store with pd.read_parquet(out / 'runs'))")
    frame["scenario"] = frame["scenario"].astype(str)
    for column in ("point_id", "replicate"):
        if column not in frame.columns:
            frame[column] = 0
    frame["date"] = pd.to_datetime(frame["date"])
    for column in ("metric", "by", "group"):
        frame[column] = frame[column].astype(str)
    if "block" in frame.columns and frame["block"].nunique() > 1:
        frame = frame.groupby([*RUN_KEYS, *KEYS], observed=True, sort=False)["value"].mean().reset_index()
    return frame


# ---- summaries ---------------------------------------------------------------------------------
def summarise_runs(metrics: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Mean, percentile interval and replicate count per (scenario, point_id, date, metric, by, group).

    The same rule as `sim.metrics.summarise.summarise`, with the design point and scenario as
    extra keys: per-replicate values are summarised, never summaries combined. With one
    replicate the interval collapses to the value.
    """
    frame = _with_run_keys(metrics)
    keys = ["scenario", "point_id", *KEYS]
    tail = (1 - level) / 2
    grouped = frame.groupby(keys, observed=True, sort=True)["value"]
    out = grouped.agg(mean="mean", n="count")
    q = grouped.quantile([tail, 1 - tail]).unstack()
    q.columns = ["lo", "hi"]
    out = out.join(q).reset_index()
    return out[[*keys, "mean", "lo", "hi", "n"]]


def metric_outcomes(metrics: pd.DataFrame, names: Sequence[str] | None = None, scenario: str | None = None,
                    by: str = "all", group: str = "all") -> pd.DataFrame:
    """One scenario's metrics as outcomes: per (point_id, replicate), each metric's mean over its dates.

    For a design without a baseline/reform pair (or a test function such as Ishigami), this is
    what `sensitivity` and `replicate_check` read: one column per metric.
    """
    frame = _with_run_keys(metrics)
    scenarios = sorted(frame["scenario"].unique())
    if scenario is None:
        if len(scenarios) != 1:
            raise ValueError(f"several scenarios in the metrics ({scenarios}); say which one")
        scenario = scenarios[0]
    rows = frame[(frame["scenario"] == scenario) & (frame["by"] == by) & (frame["group"].astype(str) == group)]
    if names is not None:
        rows = rows[rows["metric"].isin(list(names))]
    wide = rows.pivot_table(index=["point_id", "replicate"], columns="metric", values="value", aggfunc="mean",
                            observed=True)
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index().sort_values(["point_id", "replicate"], kind="stable").reset_index(drop=True)


# ---- paired reform effects ---------------------------------------------------------------------
def _fsm_gap_by_year(frame: pd.DataFrame, metric: str) -> pd.Series:
    """FSM minus non-FSM value per run and calendar year, taken inside each run."""
    rows = frame[(frame["metric"] == metric) & (frame["by"] == "fsm")]
    if rows.empty:
        return pd.Series(dtype=float, name="value")
    rows = rows.assign(year=rows["date"].dt.year, group=rows["group"].astype(str))
    wide = rows.pivot_table(index=[*RUN_KEYS, "year"], columns="group", values="value", aggfunc="mean", observed=True)
    if not {"fsm", "non_fsm"} <= set(wide.columns):
        return pd.Series(dtype=float, name="value")
    return (wide["fsm"] - wide["non_fsm"]).dropna().rename("value")


def _gap_at_equal_need(frame: pd.DataFrame, metric: str) -> pd.Series:
    """The whole-run FSM gap at equal need per run (`sim.metrics.gaps`: within the severity band x
    need type of each child's first need, weighted to one reference need mix), keyed by the year
    of the run's last month."""
    rows = frame[(frame["metric"] == metric) & (frame["by"] == "fsm_gap") & (frame["group"].astype(str) == "at_equal_need")]
    if rows.empty:
        return pd.Series(dtype=float, name="value")
    rows = rows.assign(year=rows["date"].dt.year)
    return rows.set_index([*RUN_KEYS, "year"])["value"].rename("value")


def _reform_spend_by_year(frame: pd.DataFrame) -> pd.Series:
    """High-needs plus central reform spending per pupil, per run and financial year (April date)."""
    high_needs = frame[(frame["metric"] == "high_needs_spend_per_pupil") & (frame["by"] == "all")]
    central = frame[(frame["metric"] == "spend_per_pupil_by_holder") & (frame["by"] == "budget_holder")
                    & (frame["group"].astype(str) == "central_reform")]
    if high_needs.empty:
        return pd.Series(dtype=float, name="value")
    keys = [*RUN_KEYS, "year"]
    hn = high_needs.assign(year=high_needs["date"].dt.year).groupby(keys, observed=True)["value"].sum()
    cr = central.assign(year=central["date"].dt.year).groupby(keys, observed=True)["value"].sum()
    # the baseline route has no central reform line: a missing row is no spending
    return hn.add(cr.reindex(hn.index), fill_value=0.0).rename("value")


def _post_switch(years: pd.Series | np.ndarray, first_year: int) -> np.ndarray:
    years = np.asarray(years)
    return years >= first_year if (years >= first_year).any() else np.ones(len(years), dtype=bool)


def _paired_change(per_year: pd.Series, baseline: str, reform: str, broadcast: bool, first_year: int | None,
                   last_full_year: int | None, name: str) -> pd.Series:
    """Reform minus baseline per (point_id, replicate, year), then the mean over the chosen years."""
    if per_year.empty:
        return pd.Series(dtype=float, name=name)
    table = per_year.reset_index()
    if last_full_year is not None:
        table = table[table["year"] <= last_full_year]
    base = table[table["scenario"] == baseline].drop(columns="scenario")
    ref = table[table["scenario"] == reform].drop(columns="scenario")
    if broadcast:
        base = base.drop(columns="point_id")
        both = ref.merge(base, on=["replicate", "year"], suffixes=("_r", "_b"))
    else:
        both = ref.merge(base, on=["point_id", "replicate", "year"], suffixes=("_r", "_b"))
    both["change"] = both["value_r"] - both["value_b"]
    if first_year is not None:
        both = both[_post_switch(both["year"], first_year)]
    return both.groupby(["point_id", "replicate"], observed=True)["change"].mean().rename(name)


def paired_outcomes(metrics: pd.DataFrame, baseline: str = "baseline", reform: str | None = None, *,
                    first_year: int = POST_SWITCH_YEAR, last_full_year: int | None = None) -> pd.DataFrame:
    """Headline effects of the reform per (point_id, replicate), against the baseline run with the same seed.

    Inside each replicate (same children, same luck: common random numbers):
    - `change_access_gap`: change in the FSM minus non-FSM gap in `unmet_need_months`, per
      calendar year, averaged over the post-switch years present (`first_year` on; if the run
      ends before then, all years). Negative: the reform narrows the access gap.
    - `change_access_gap_at_equal_need`: change in the whole-run FSM gap in unmet-need months
      among children with the same first need (the need-standardised gap): different treatment
      at equal need, not different needs.
    - `change_ks4_gap`: the same for `ks4_em4_rate` (percentage points, by exam year).
      Positive: FSM pupils catch up.
    - `change_cost`: change in `high_needs_spend_per_pupil` plus `spend_per_pupil_by_holder`
      for `central_reform` (the reform's new funds), averaged over every complete financial
      year of the run — the reform's money starts in 2026, well before the switch.

    The baseline is paired at the same point_id and replicate; if it was run at one point only
    (its runs do not depend on reform parameters), that run is the baseline for every point.
    `last_full_year` drops later calendar years (a year the run did not finish: its unmet-need
    months cover only part of the year).
    """
    frame = _with_run_keys(metrics)
    scenarios = sorted(frame["scenario"].unique())
    if baseline not in scenarios:
        raise ValueError(f"no {baseline!r} scenario in the metrics (scenarios: {scenarios})")
    if reform is None:
        others = [s for s in scenarios if s != baseline]
        if len(others) != 1:
            raise ValueError(f"say which reform to pair with {baseline!r}: scenarios are {scenarios}")
        reform = others[0]
    elif reform not in scenarios:
        raise ValueError(f"no {reform!r} scenario in the metrics (scenarios: {scenarios})")
    frame = frame[frame["scenario"].isin([baseline, reform])]
    base_points = set(frame.loc[frame["scenario"] == baseline, "point_id"].unique())
    reform_points = set(frame.loc[frame["scenario"] == reform, "point_id"].unique())
    broadcast = not reform_points <= base_points
    if broadcast and len(base_points) != 1:
        raise ValueError(f"the baseline was run at {len(base_points)} points that do not cover the reform's "
                         f"{len(reform_points)}: cannot pair runs by design point")
    changes = [
        _paired_change(_fsm_gap_by_year(frame, "unmet_need_months"), baseline, reform, broadcast, first_year,
                       last_full_year, "change_access_gap"),
        _paired_change(_gap_at_equal_need(frame, "unmet_need_months"), baseline, reform, broadcast, None, None,
                       "change_access_gap_at_equal_need"),
        _paired_change(_fsm_gap_by_year(frame, "ks4_em4_rate"), baseline, reform, broadcast, first_year,
                       last_full_year, "change_ks4_gap"),
        # financial-year metrics only exist for complete years (sim.metrics.compute): no cut needed
        _paired_change(_reform_spend_by_year(frame), baseline, reform, broadcast, None, None, "change_cost"),
    ]
    keyed = [c for c in changes if len(c)]
    if not keyed:
        raise ValueError(f"no paired runs of {baseline!r} and {reform!r} share a replicate (and point)")
    out = pd.concat(keyed, axis=1).reset_index()
    for outcome in HEADLINE_OUTCOMES:
        if outcome.name not in out.columns:
            out[outcome.name] = np.nan
    out = out.sort_values(["point_id", "replicate"], kind="stable").reset_index(drop=True)
    return out[["point_id", "replicate", *[o.name for o in HEADLINE_OUTCOMES]]]


# ---- enough replicates? ------------------------------------------------------------------------
def _outcome_columns(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> list[str]:
    if columns is not None:
        return list(columns)
    return [c for c in frame.columns if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(frame[c])]


def _as_long(values_by_replicate) -> pd.DataFrame:
    """(point_id, outcome, value) from a wide frame, a dict of arrays or a Series."""
    if isinstance(values_by_replicate, pd.DataFrame):
        frame = values_by_replicate
        point = frame["point_id"] if "point_id" in frame.columns else pd.Series(0, index=frame.index)
        parts = [pd.DataFrame({"point_id": point.to_numpy(), "outcome": c, "value": frame[c].to_numpy(dtype=float)})
                 for c in _outcome_columns(frame)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["point_id", "outcome", "value"])
    if isinstance(values_by_replicate, pd.Series):
        values_by_replicate = {values_by_replicate.name or "value": values_by_replicate}
    parts = [pd.DataFrame({"point_id": 0, "outcome": str(name), "value": np.asarray(v, dtype=float)})
             for name, v in dict(values_by_replicate).items()]
    return pd.concat(parts, ignore_index=True)


def replicate_check(values_by_replicate, precision: float | Mapping[str, float] | None = None,
                    level: float = LEVEL) -> pd.DataFrame:
    """For each outcome (and design point): the interval half-width now and the replicates a target needs.

    `values_by_replicate`: a frame with one row per replicate (and `point_id` if several
    points) and one numeric column per outcome — as `paired_outcomes` returns — or a dict
    {outcome: values}. `precision`: the half-width wanted, one number or one per outcome
    (default `DEFAULT_PRECISION` for the headline outcomes, none otherwise).

    With n replicates, mean m and standard deviation s (n - 1 denominator), the 95% interval
    for the mean is m ± t·s/√n with t the 97.5th percentile of Student's t on n - 1 degrees of
    freedom. Replicates needed for half-width h: ceil((t·s/h)²), at least 2 — the usual
    pilot-sample rule, keeping today's t (slightly conservative once n grows).
    """
    long = _as_long(values_by_replicate).dropna(subset=["value"])
    if precision is None:
        precision = DEFAULT_PRECISION
    order = {name: i for i, name in enumerate(dict.fromkeys(long["outcome"]))}  # keep the caller's order
    long = long.assign(order=long["outcome"].map(order)).sort_values(["point_id", "order"], kind="stable")
    rows = []
    for (point, _, outcome), values in long.groupby(["point_id", "order", "outcome"], sort=False)["value"]:
        n = int(values.size)
        mean = float(values.mean())
        sd = float(values.std(ddof=1)) if n >= 2 else math.nan
        t = float(stats.t.ppf(1 - (1 - level) / 2, n - 1)) if n >= 2 else math.nan
        half_width = t * sd / math.sqrt(n) if n >= 2 else math.nan
        wanted = float(precision.get(outcome, math.nan)) if isinstance(precision, Mapping) else float(precision)
        if n >= 2 and wanted > 0 and np.isfinite(wanted):
            needed = max(MIN_REPLICATES, math.ceil((t * sd / wanted) ** 2))
        else:
            needed = None
        rows.append({"point_id": point, "outcome": outcome, "n": n, "mean": mean, "sd": sd, "t": t,
                     "half_width": half_width, "precision": wanted, "replicates_needed": needed})
    out = pd.DataFrame(rows, columns=["point_id", "outcome", "n", "mean", "sd", "t", "half_width", "precision",
                                      "replicates_needed"])
    out["replicates_needed"] = out["replicates_needed"].astype("Int64")
    out["enough"] = (out["replicates_needed"] <= out["n"]).astype("boolean")
    return out


# ---- sensitivity -------------------------------------------------------------------------------
SENSITIVITY_COLUMNS = ["outcome", "parameter", "index", "value", "conf"]


def _design_matrix(design: pd.DataFrame, problem: Mapping) -> tuple[np.ndarray, np.ndarray]:
    names = list(problem["names"])
    missing = [n for n in names if n not in design.columns]
    if missing:
        raise ValueError(f"the design lacks parameter columns {missing}")
    design = design.sort_values("point_id", kind="stable") if "point_id" in design.columns else design
    points = design["point_id"].to_numpy() if "point_id" in design.columns else np.arange(len(design))
    return points, design[names].to_numpy(dtype=float)


def _lever_groups(design: pd.DataFrame, problem: Mapping) -> tuple[list[str], list[tuple[tuple, pd.DataFrame]]]:
    """Design columns outside the SALib problem that vary (levers), and the design split by their values.

    The engine crosses every lever combination with the whole SALib sample, so each combination's
    rows, in point order, are one complete Morris or Sobol design.
    """
    names = set(problem["names"])
    levers = [c for c in design.columns if c != "point_id" and c not in names and design[c].nunique(dropna=False) > 1]
    design = design.sort_values("point_id", kind="stable") if "point_id" in design.columns else design
    if not levers:
        return [], [((), design)]
    groups = [(key if isinstance(key, tuple) else (key,), rows)
              for key, rows in design.groupby(levers, sort=False, dropna=False)]
    return levers, groups


def sensitivity(design: pd.DataFrame, outcomes: pd.DataFrame, problem: Mapping, method: str, *,
                outcome_columns: Sequence[str] | None = None, num_levels: int = 4, seed: int = 0,
                num_resamples: int = 100, conf_level: float = LEVEL) -> pd.DataFrame:
    """Sensitivity indices of each outcome to each varied parameter (tidy: outcome, parameter, index, value, conf).

    Outcomes are first averaged over replicates at each design point (the replicate noise is
    then the same for every point's mean, not a parameter effect). The points must be the
    design's, in its row order (point_id = SALib sample row).
    - `morris` (screening, few runs): `mu_star`, the mean absolute elementary effect, in the
      outcome's unit, with its bootstrap `conf`; `sigma`, their spread (interactions or
      non-linearity); `mu`, their signed mean.
    - `sobol` (variance shares, many runs): `S1`, the share of the outcome's variance due to the
      parameter alone; `ST`, including all its interactions; with bootstrap `conf`.
    `conf` is the half-width of SALib's `conf_level` bootstrap interval.
    Designs that cross levers (fixed policy choices) with the sample are analysed once per lever
    combination; the result then has one extra column per lever.
    """
    method = method.lower()
    if method not in ("morris", "sobol"):
        raise ValueError(f"sensitivity needs a morris or sobol design, not {method!r}")
    problem = {"num_vars": int(problem["num_vars"]), "names": list(problem["names"]),
               "bounds": [list(map(float, b)) for b in problem["bounds"]]}
    columns = _outcome_columns(outcomes, outcome_columns)
    by_point = outcomes.groupby("point_id", sort=True)[columns].mean() if "point_id" in outcomes.columns \
        else outcomes[columns]
    levers, groups = _lever_groups(design, problem)
    frames = []
    for key, part in groups:
        frame = _indices(part, by_point, columns, problem, method, num_levels, seed, num_resamples, conf_level)
        for lever, value in zip(levers, key):
            frame[lever] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SENSITIVITY_COLUMNS)


def _indices(design: pd.DataFrame, by_point: pd.DataFrame, columns: list[str], problem: dict, method: str,
             num_levels: int, seed: int, num_resamples: int, conf_level: float) -> pd.DataFrame:
    """SALib's analysis of one complete sample (one lever combination)."""
    points, x = _design_matrix(design, problem)
    missing = np.setdiff1d(points, by_point.index.to_numpy())
    if len(missing):
        raise ValueError(f"{len(missing)} design points have no outcomes (e.g. point {int(missing[0])}): "
                         f"a {method} analysis needs every point of the design")
    values = by_point.reindex(points)
    d = problem["num_vars"]
    if method == "sobol" and len(points) % (d + 2):
        raise ValueError(f"a Sobol design without second-order terms has N*(D+2) rows; got {len(points)} for D={d}")
    rows = []
    for column in columns:
        y = values[column].to_numpy(dtype=float)
        if not np.isfinite(y).all():
            warnings.warn(f"outcome {column!r} is missing at some design points; no sensitivity indices for it",
                          stacklevel=3)
            continue
        constant = np.ptp(y) == 0
        if method == "morris":
            result = morris_analyze.analyze(problem, x, y, num_resamples=num_resamples, conf_level=conf_level,
                                            num_levels=num_levels, seed=seed)
            for i, name in enumerate(problem["names"]):
                rows += [(column, name, "mu_star", result["mu_star"][i], result["mu_star_conf"][i]),
                         (column, name, "sigma", result["sigma"][i], math.nan),
                         (column, name, "mu", result["mu"][i], math.nan)]
        elif constant:  # no variance to share out: the indices are undefined, not zero
            for name in problem["names"]:
                rows += [(column, name, "S1", math.nan, math.nan), (column, name, "ST", math.nan, math.nan)]
        else:
            result = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=num_resamples,
                                           conf_level=conf_level, seed=seed)
            for i, name in enumerate(problem["names"]):
                rows += [(column, name, "S1", result["S1"][i], result["S1_conf"][i]),
                         (column, name, "ST", result["ST"][i], result["ST_conf"][i])]
    out = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    out["value"] = out["value"].astype(float)
    out["conf"] = out["conf"].astype(float)
    return out
