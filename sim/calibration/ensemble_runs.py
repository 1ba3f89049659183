"""Runs and comparisons over a calibration ensemble: intervals that combine parameter and
stochastic uncertainty (`sendsim run/compare --ensemble FILE`).

Why: a comparison at one parameter set reports only the Monte Carlo spread, which shrinks with
more replicates however uncertain the parameters are. Each member of an ensemble
(`sim.calibration.ensemble`) is a parameter set the published data do not rule out; running the
same comparison at every member, with common random numbers across baseline and reform (and the
same replicate seeds for every member), and pooling the per-replicate results weighted by member,
gives the spread over plausible worlds as well as over chance.

Two intervals are reported for every value, both 95%:

* **stochastic** (`change_lo`, `change_hi`; `lo`, `hi`): chance alone. Each member's replicate
  values are centred on that member's mean, shifted to the ensemble mean and pooled; this is
  what one would see if the parameters were known, averaged over the plausible ones.
* **combined** (`change_lo_combined`, `change_hi_combined`; `lo_combined`, `hi_combined`):
  parameter and stochastic uncertainty together: the weighted quantiles of every member's
  replicate values, pooled without centring. Parameter uncertainty can only add to the
  spread, so when a small ensemble's pooled quantiles come out narrower than the stochastic
  interval by chance, the stochastic bound is kept (the combined interval always contains it).

The central value is the weighted mean over members of each member's replicate mean.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sim import __version__
from sim.calibration.ensemble import DEFAULT_CUTOFF, FORMAT, Ensemble, Member, apply_member, save_ensemble
from sim.calibration.fit import DEFAULT_PARAMETERS, get_value
from sim.config import ScenarioConfig, validate_config
from sim.experiments.compare import EQUITY_COLUMNS, TAIL, _route_costs, compare_scenarios, paired_equity
from sim.experiments.provenance import command_line, git_state, now_iso, package_versions
from sim.experiments.results import atomic_directory, write_manifest
from sim.experiments.runner import combine, run_replicates

INTERVAL_NOTE = (
    "change_lo/change_hi: 95% interval from chance alone (replicate spread, parameters held at each member); "
    "change_lo_combined/change_hi_combined: 95% interval over ensemble members x replicates "
    "(parameter and stochastic uncertainty combined)"
)
ENSEMBLE_EQUITY_COLUMNS = [*EQUITY_COLUMNS, "change_lo_combined", "change_hi_combined", "members", "interval"]


def weighted_quantile(values, weights, q: float) -> float:
    """Quantile of a weighted sample: the weighted empirical distribution with each point at the
    middle of its weight, linearly interpolated (equal weights give the Hazen quantile)."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = np.isfinite(v) & (w > 0)
    v, w = v[keep], w[keep]
    if not len(v):
        return math.nan
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cum, v))


EMPTY_CELL = {"mean": math.nan, "lo": math.nan, "hi": math.nan, "lo_combined": math.nan, "hi_combined": math.nan}


def combine_cell(values: pd.Series, members: pd.Series, weights: dict[str, float]) -> dict[str, float]:
    """Mean, stochastic and combined 95% intervals of one cell's (member, replicate) values."""
    frame = pd.DataFrame({"cell": 0, "member": members.to_numpy(), "value": values.to_numpy(dtype=float)})
    combined = combine_members(frame, ["cell"], weights)
    return {name: float(combined[name].iloc[0]) for name in EMPTY_CELL}


def _cell_intervals(values: np.ndarray, member_mean: np.ndarray, row_weight: np.ndarray, means: np.ndarray,
                    mean_weight: np.ndarray) -> dict[str, float]:
    """One cell's mean and intervals from its finite values, each with its member's mean and its
    weight (the member's weight shared among its values), and the member means (in member order)
    with the members' weights (module docstring)."""
    centre = float(np.sum(means * mean_weight) / np.sum(mean_weight))
    centred = values - member_mean + centre
    lo, hi = weighted_quantile(centred, row_weight, TAIL), weighted_quantile(centred, row_weight, 1 - TAIL)
    pooled_lo, pooled_hi = weighted_quantile(values, row_weight, TAIL), weighted_quantile(values, row_weight, 1 - TAIL)
    return {"mean": centre, "lo": lo, "hi": hi, "lo_combined": min(lo, pooled_lo), "hi_combined": max(hi, pooled_hi)}


def combine_members(tidy: pd.DataFrame, keys: list[str], weights: dict[str, float], value: str = "value") -> pd.DataFrame:
    """Per cell (`keys`): mean, lo, hi (stochastic), lo_combined, hi_combined, members, replicates.
    `tidy` has columns member, replicate, *keys, value; values that are not finite are left out
    of a cell's mean and intervals (and still counted in its replicates).

    Every grouping is done once for all cells (member means as sums in row order over counts),
    leaving each cell only its quantiles. Why: an ensemble comparison has thousands of cells, and
    pandas groupings per cell cost 16 ms each (35 of the 47 s of a small ensemble comparison)."""
    tidy = tidy.reset_index(drop=True)
    cell = tidy.groupby(keys, observed=True, sort=False, dropna=False).ngroup().to_numpy()
    n_cells = int(cell.max()) + 1 if len(cell) else 0
    values = tidy[value].to_numpy(dtype=float)
    member, member_names = pd.factorize(tidy["member"], sort=True)
    n_members = max(len(member_names), 1)
    member_weight = np.array([weights.get(name, math.nan) for name in member_names], dtype=float)
    named = member >= 0
    finite = np.isfinite(values) & named
    f_value, f_member, f_cell = values[finite], member[finite], cell[finite]
    pair = f_cell.astype(np.int64) * n_members + f_member
    pair_count = np.bincount(pair, minlength=n_cells * n_members)
    pair_mean = np.bincount(pair, weights=f_value, minlength=n_cells * n_members) / np.maximum(pair_count, 1)
    order = np.argsort(f_cell, kind="stable")  # each cell's finite rows together, in their own order
    ends = np.cumsum(np.bincount(f_cell, minlength=n_cells))
    replicates = np.bincount(cell, minlength=n_cells)
    members = np.bincount(np.unique(cell[named].astype(np.int64) * n_members + member[named]) // n_members,
                          minlength=n_cells)
    _, first = np.unique(cell, return_index=True)
    rows = []
    for c, key in enumerate(tidy.loc[first, keys].itertuples(index=False, name=None)):
        at = order[(ends[c - 1] if c else 0):ends[c]]
        if len(at):
            present = np.unique(f_member[at])
            stats = _cell_intervals(f_value[at], pair_mean[pair[at]], member_weight[f_member[at]] / pair_count[pair[at]],
                                    pair_mean[c * n_members + present], member_weight[present])
        else:
            stats = dict(EMPTY_CELL)
        rows.append({**dict(zip(keys, key)), **stats, "members": int(members[c]), "replicates": int(replicates[c])})
    return pd.DataFrame(rows)


# ---- configs per member ------------------------------------------------------------------------------
def reform_for_member(baseline: ScenarioConfig, reform: ScenarioConfig, member: Member) -> tuple[ScenarioConfig, list[str]]:
    """The reform at a member: the member's values, except for levers the reform itself sets to
    something other than the baseline (the reform's change is kept; those paths are returned)."""
    b, r = baseline.model_dump(mode="json"), reform.model_dump(mode="json")
    kept = [p for p in member.overrides if get_value(b, p) != get_value(r, p)]
    overrides = {p: v for p, v in member.overrides.items() if p not in kept}
    if not overrides:
        return validate_config(r), kept
    return apply_member(r, member.model_copy(update={"overrides": overrides})), kept


# ---- compare --ensemble ------------------------------------------------------------------------------
def ensemble_equity(children: dict[str, tuple[pd.DataFrame, pd.DataFrame]], weights: dict[str, float],
                    small_cell: int) -> pd.DataFrame:
    """The equity table over members: per member and replicate the paired table of that replicate
    alone, then every value combined across (member, replicate) (module docstring)."""
    per = []
    for name, (bc, rc) in children.items():
        for replicate in sorted(bc["replicate"].unique()):
            table = paired_equity(bc[bc["replicate"] == replicate], rc[rc["replicate"] == replicate], small_cell=0)
            table["member"], table["replicate"] = name, replicate
            per.append(table)
    per = pd.concat(per, ignore_index=True)
    keys = ["metric", "by", "group"]
    order = per[keys].drop_duplicates().reset_index(drop=True)
    info = per.groupby(keys, sort=False)[["better", "label", "unit"]].first().reset_index()
    out = order.merge(info, on=keys, how="left")
    change = combine_members(per.rename(columns={"change": "value"}), keys, weights)
    out = out.merge(change.rename(columns={"mean": "change", "lo": "change_lo", "hi": "change_hi",
                                           "lo_combined": "change_lo_combined", "hi_combined": "change_hi_combined"}),
                    on=keys, how="left")
    for column in ("baseline", "reform", "share_better_off", "share_worse_off", "share_unchanged", "n_children"):
        means = combine_members(per.rename(columns={column: "value"}), keys, weights)[[*keys, "mean"]]
        out = out.merge(means.rename(columns={"mean": column}), on=keys, how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["relative_change"] = np.where(out["baseline"] != 0, out["change"] / out["baseline"], np.nan)
    out["replicates"] = (out.pop("replicates") / out["members"]).round().astype(int)
    out["suppressed"] = ~(out["n_children"] >= small_cell)
    values = ["baseline", "reform", "change", "change_lo", "change_hi", "change_lo_combined", "change_hi_combined",
              "relative_change", "share_better_off", "share_worse_off", "share_unchanged"]
    out.loc[out["suppressed"], values] = np.nan
    out["interval"] = INTERVAL_NOTE
    return out[ENSEMBLE_EQUITY_COLUMNS]


def ensemble_costs(systems: dict[str, tuple[pd.DataFrame, pd.DataFrame]], weights: dict[str, float]) -> pd.DataFrame:
    """Spending change by holder and financial year over members, with both intervals."""
    per = []
    for name, (bs, rs) in systems.items():
        b, r = _route_costs(bs), _route_costs(rs)
        keys = ["replicate", "measure", "holder", "fy", "period"]
        both = b.merge(r, on=keys, suffixes=("_b", "_r"))
        both["change"] = both["value_r"] - both["value_b"]
        both["member"] = name
        per.append(both)
    per = pd.concat(per, ignore_index=True)
    keys = ["measure", "holder", "fy", "period"]
    out = combine_members(per.rename(columns={"change": "value"}), keys, weights).rename(columns={
        "mean": "change", "lo": "change_lo", "hi": "change_hi", "lo_combined": "change_lo_combined",
        "hi_combined": "change_hi_combined"})
    for column, name in (("value_b", "baseline"), ("value_r", "reform")):
        means = combine_members(per.rename(columns={column: "value"}), keys, weights)[[*keys, "mean"]]
        out = out.merge(means.rename(columns={"mean": name}), on=keys, how="left")
    out["replicates"] = (out["replicates"] / out["members"]).round().astype(int)
    out["interval"] = INTERVAL_NOTE
    return out[["measure", "holder", "fy", "period", "baseline", "reform", "change", "change_lo", "change_hi",
                "change_lo_combined", "change_hi_combined", "members", "replicates", "interval"]]


def compare_ensemble(baseline: ScenarioConfig, reform: ScenarioConfig, ensemble: Ensemble, replicates: int,
                     out_dir: Path | str, workers: int | None = None, *, small_cell: int = 10,
                     baseline_path=None, reform_path=None, ensemble_path=None, command: str | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Run the paired comparison at every member (same seeds) and write, atomically:
    members/<name>/ (each a `compare` directory without its own report), equity.csv/.parquet and costs.csv with both
    intervals, ensemble.yaml (the file used), report.md and manifest.json."""
    out_dir = Path(out_dir)
    weights = {m.name: m.weight for m in ensemble.members}
    started = now_iso()
    children, systems, kept_by_reform = {}, {}, {}
    with atomic_directory(out_dir) as tmp:
        for i, member in enumerate(ensemble.members):
            b_cfg = apply_member(baseline, member)
            r_cfg, kept = reform_for_member(baseline, reform, member)
            kept_by_reform[member.name] = kept
            result = compare_scenarios(
                b_cfg, r_cfg, replicates, tmp / "members" / member.name, workers=workers, small_cell=small_cell,
                baseline_path=baseline_path, reform_path=reform_path, command=command or command_line(),
                run_summaries=False,
                progress=(lambda route, done, total, i=i: progress(f"member {i + 1}/{len(ensemble.members)} {route}", done, total))
                if progress else None)
            children[member.name] = (result["baseline"]["children"], result["reform"]["children"])
            systems[member.name] = (result["baseline"]["system"], result["reform"]["system"])
        equity = ensemble_equity(children, weights, small_cell)
        costs = ensemble_costs(systems, weights)
        equity.to_parquet(tmp / "equity.parquet", index=False)
        equity.to_csv(tmp / "equity.csv", index=False)
        costs.to_csv(tmp / "costs.csv", index=False)
        save_ensemble(ensemble, tmp / "ensemble.yaml")
        manifest = {
            "kind": "ensemble_paired_comparison", "sendsim_version": __version__, "seed": baseline.run.seed,
            "replicates_per_member": replicates, "members": [m.name for m in ensemble.members],
            "weights": weights, "ensemble_file": str(ensemble_path) if ensemble_path else None,
            "ensemble_method": ensemble.method, "cut_met": ensemble.cut_met,
            "reform_keeps_its_own_values": {k: v for k, v in kept_by_reform.items() if v},
            "baseline": {"scenario": baseline.name, "config_file": str(baseline_path) if baseline_path else None},
            "reform": {"scenario": reform.name, "config_file": str(reform_path) if reform_path else None},
            "interval": INTERVAL_NOTE, "small_cell": small_cell, "packages": package_versions(), "git": git_state(),
            "started": started, "finished": now_iso(), "command": command or command_line(),
            "files": ["members/", "equity.parquet", "equity.csv", "costs.csv", "ensemble.yaml", "report.md"],
        }
        write_manifest(tmp, manifest)
        (tmp / "report.md").write_text(ensemble_report(equity, costs, ensemble, manifest), encoding="utf-8")
    return {"out_dir": out_dir, "equity": equity, "costs": costs, "manifest": manifest}


def _fmt(value: float, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def ensemble_report(equity: pd.DataFrame, costs: pd.DataFrame, ensemble: Ensemble, manifest: dict) -> str:
    """Markdown: what the intervals cover, the headline equity rows and spending, the members."""
    n = len(ensemble.members)
    lines = [
        f"# Paired comparison over {n} plausible parameter sets: {manifest['baseline']['scenario']} vs "
        f"{manifest['reform']['scenario']}", "",
        f"Each of the {n} ensemble members is a parameter set consistent with the published targets; baseline and "
        f"reform were run at every member with {manifest['replicates_per_member']} paired replicates (common random "
        "numbers, the same seeds for every member).", "",
        "**What the intervals cover.** *Chance* is the 95% interval from replicate noise alone (parameters known); "
        "*chance + parameters* is the 95% interval over members and replicates together, so it also covers what the "
        "data leave open about the parameters. A change whose *chance + parameters* interval excludes zero has the "
        "same sign in at least 97.5% of the sampled plausible worlds and chance draws.", "",
    ]
    if not ensemble.cut_met:
        lines += ["**Warning:** too few parameter sets passed the implausibility cut; the members are the least "
                  "implausible sets found, so these intervals are conditional on a model that does not yet match "
                  "every target.", ""]
    lines += ["| metric | group | baseline | reform | change | chance [95%] | chance + parameters [95%] |",
              "|---|---|---|---|---|---|---|"]
    shown = equity[equity["by"].isin(["all", "fsm", "fsm_gap", "income_gap"]) & ~equity["suppressed"].astype(bool)]
    for row in shown.itertuples(index=False):
        group = "all" if row.by == "all" else f"{row.by}={row.group}"
        lines.append(f"| {row.label} | {group} | {_fmt(row.baseline)} | {_fmt(row.reform)} | {_fmt(row.change, True)} | "
                     f"[{_fmt(row.change_lo, True)}, {_fmt(row.change_hi, True)}] | "
                     f"[{_fmt(row.change_lo_combined, True)}, {_fmt(row.change_hi_combined, True)}] |")
    spend = costs[(costs["measure"] == "spend") & (costs["holder"] == "total")]
    if len(spend):
        lines += ["", "Total spending, reform minus baseline (£ million, per financial year):", "",
                  "| year | change | chance [95%] | chance + parameters [95%] |", "|---|---|---|---|"]
        for row in spend.itertuples(index=False):
            lines.append(f"| {row.period} | {row.change / 1e6:+.2f} | [{row.change_lo / 1e6:+.2f}, {row.change_hi / 1e6:+.2f}] | "
                         f"[{row.change_lo_combined / 1e6:+.2f}, {row.change_hi_combined / 1e6:+.2f}] |")
    lines += ["", "## Ensemble", "", ensemble.method, "",
              "| member | weight | implausibility | " + " | ".join(ensemble.parameters) + " |",
              "|---|---|---|" + "---|" * len(ensemble.parameters)]
    for m in ensemble.members:
        imp = "-" if m.implausibility is None else f"{m.implausibility:.2f}"
        lines.append(f"| {m.name} | {m.weight:.3f} | {imp} | " + " | ".join(f"{m.overrides[p]:.4g}" for p in ensemble.parameters) + " |")
    lines += ["", "Each member's own comparison (equity, costs, EHCP stock, FSM gap, both runs) is in `members/<member>/`."]
    return "\n".join(lines) + "\n"


# ---- run --ensemble -------------------------------------------------------------------------------
SUMMARY_COLUMNS = ["metric", "by", "group", "date", "mean", "lo", "hi", "lo_combined", "hi_combined", "members",
                   "replicates", "interval"]
RUN_INTERVAL_NOTE = ("lo/hi: 95% interval from chance alone (replicate spread, parameters held at each member); "
                     "lo_combined/hi_combined: 95% interval over ensemble members x replicates (parameter and "
                     "stochastic uncertainty combined)")


def ensemble_summary(metrics: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Per metric, breakdown, group and date: mean over members, stochastic and combined intervals.
    `metrics` is the tidy metrics table of every member with a `member` column."""
    tidy = metrics[["member", "replicate", "metric", "by", "group", "date", "value"]].copy()
    tidy["group"] = tidy["group"].astype(str)
    out = combine_members(tidy, ["metric", "by", "group", "date"], weights)
    out["replicates"] = (out["replicates"] / out["members"]).round().astype(int)
    out["interval"] = RUN_INTERVAL_NOTE
    return out[SUMMARY_COLUMNS]


def ensemble_metrics(config: ScenarioConfig, ensemble: Ensemble, replicates: int, workers: int | None = None,
                     on_done: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and system tables of every member (a `member` column first), each member run with
    the same replicate seeds (the config's root seed), so members differ by parameters only."""
    metrics_all, system_all = [], []
    for member in ensemble.members:
        outputs = run_replicates(apply_member(config, member), replicates, root_seed=config.run.seed, workers=workers,
                                 on_done=(lambda _o, name=member.name: on_done(name)) if on_done else None)
        metrics, system, _ = combine(outputs)
        metrics.insert(0, "member", member.name)
        system.insert(0, "member", member.name)
        metrics_all.append(metrics)
        system_all.append(system)
    return pd.concat(metrics_all, ignore_index=True), pd.concat(system_all, ignore_index=True)


def run_ensemble(config: ScenarioConfig, ensemble: Ensemble, replicates: int, out_dir: Path | str,
                 workers: int | None = None, *, on_done: Callable[[str], None] | None = None,
                 manifest_extra: dict | None = None) -> dict:
    """Run a scenario at every member (same seeds) and write, atomically: metrics.parquet (all
    members, with a `member` column), system.parquet, summary_ensemble.csv (both intervals),
    ensemble.yaml and manifest.json."""
    started = now_iso()
    weights = {m.name: m.weight for m in ensemble.members}
    metrics, system = ensemble_metrics(config, ensemble, replicates, workers, on_done)
    summary = ensemble_summary(metrics, weights)
    manifest = {"kind": "ensemble_run", "scenario": config.name, "seed": config.run.seed,
                "replicates_per_member": replicates, "members": list(weights), "weights": weights,
                "ensemble_method": ensemble.method, "cut_met": ensemble.cut_met, "interval": RUN_INTERVAL_NOTE,
                "config": config.model_dump(mode="json"), "packages": package_versions(), "git": git_state(),
                "started": started, "finished": now_iso(), **(manifest_extra or {}),
                "files": ["metrics.parquet", "system.parquet", "summary_ensemble.csv", "ensemble.yaml"]}
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        metrics.to_parquet(tmp / "metrics.parquet", index=False)
        system.to_parquet(tmp / "system.parquet", index=False)
        summary.to_csv(tmp / "summary_ensemble.csv", index=False)
        save_ensemble(ensemble, tmp / "ensemble.yaml")
        write_manifest(tmp, manifest)
    return {"out_dir": out_dir, "metrics": metrics, "summary": summary, "manifest": manifest}


def single_member(config: ScenarioConfig, paths: list[str] | None = None) -> Ensemble:
    """A one-member ensemble at the config's own values (so a forecast without an ensemble file
    goes through the same code; its combined interval equals the stochastic one)."""
    data = config.model_dump(mode="json")
    overrides = {p: get_value(data, p) for p in (paths or DEFAULT_PARAMETERS)}
    return Ensemble(format=FORMAT, created=date.today().isoformat(), base_config=config.name,
                    method="a single parameter set (the config as given): no parameter uncertainty",
                    targets=[], implausibility_cutoff=DEFAULT_CUTOFF, cut_met=True,
                    members=[Member(name="config", weight=1.0, overrides=overrides)])
