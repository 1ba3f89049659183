"""Fit assumption parameters to published targets (`sendsim calibrate`).

Why this design:

* **What is fitted.** Only *assumption* levers, each searched inside its `plausible` range from the
  schema (`sim/config/params.py`), so a fit can never leave the range a researcher has declared
  defensible. The default set (`DEFAULT_PARAMETERS`) is the handful of levers that set the size of
  the flows (request rates, refusal, EP capacity, advice speed) and their growth (onset, severity
  and propensity trends, identification): the mechanisms stay as designed, only their strength is
  estimated.
* **The loss** is the validation rule made smooth: sum over targets of
  ((replicate-mean model - published) / tolerance)^2, with model values extracted exactly as
  `sim.calibration.validate.check_targets` extracts them, so "loss 0" means every target is met at
  its centre and a term of 1 means "on the edge of the tolerance".
* **Common random numbers.** Every trial runs the same replicate seeds, so the difference between
  two trials is the parameters, not the dice: the loss surface is smooth enough for a
  sample-efficient optimiser (Optuna's TPE, seeded, so a fit is reproducible).
* **Executors.** Trials' replicates are plain-data tasks sent through
  `sim.experiments.executors`, so a fit runs the same on one core, all cores or a dask cluster.
  Several trials are asked at once (TPE with a constant liar) to keep every worker busy.
* **Run length.** Each trial only simulates up to the last target date (plus the rest of that
  year), not the scenario's full horizon: a 2025 calibration does not need 2036.
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.calibration.targets import TARGETS, Target
from sim.calibration.validate import check_targets
from sim.config import ScenarioConfig, load_config, validate_config
from sim.config.loader import deep_merge, nest_dotted
from sim.config.params import parameter_table
from sim.errors import require_extra
from sim.experiments.executors import make_executor
from sim.experiments.output_dir import OutputError
from sim.experiments.runner import replicate_seed
from sim.metrics import compute_metrics
from sim.model import SendModel

#: The main levers, in the order they are reported. Each must have a `plausible` range.
DEFAULT_PARAMETERS: tuple[str, ...] = (
    "requests.school_monthly_rate",             # size of school requests
    "requests.parent_monthly_rate",             # size of parent requests
    "decision.refusal_intercept",               # refusal rate
    "assessment.ep_hours_per_month_per_1000_pupils",  # EP capacity: timeliness, new plans
    "assessment.other_advice_monthly_completion",     # the long tail of waits
    "needs.onset_rate_per_year",                # new need emerging: SEN support stock
    "needs.severity_trend_per_year",            # growth in complex need
    "requests.propensity_trend_per_year",       # growth in requests
    "identification.monthly_rate",              # SEN support identification
)

#: Loss term for a target the run did not produce (no rows on its date): large but finite so the
#: optimiser can still rank trials.
MISSING_PENALTY = 100.0

FIT_COLUMNS = ["id", "quantity", "published", "model", "model_lo", "model_hi", "tolerance", "error", "z", "ok"]


# ---- parameters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """One fitted lever: dotted path, search range (the schema's plausible range) and type."""

    path: str
    low: float
    high: float
    integer: bool = False


def parameter_space(paths: Sequence[str] | None = None,
                    ranges: dict[str, tuple[float, float]] | None = None) -> list[Parameter]:
    """The search space: each path's `plausible` range from the schema (error if it has none).

    `ranges` replaces the range of some of these paths (a protocol that declares, with its own
    evidence, a wider search than the schema's; e.g. the rolling-origin backtest's propensity
    trend). A replaced range must still lie inside the schema's hard bounds, which validation
    enforces on every trial."""
    rows = {row["path"]: row for row in parameter_table(ScenarioConfig)}
    ranges = dict(ranges or {})
    unused = sorted(set(ranges) - set(paths or DEFAULT_PARAMETERS))
    if unused:
        raise ValueError(f"a search range was given for {', '.join(unused)}, which is not fitted")
    out = []
    for path in paths or DEFAULT_PARAMETERS:
        row = rows.get(path)
        if row is None:
            raise ValueError(f"unknown parameter {path!r} (see `sendsim params`)")
        if not row["plausible"]:
            raise ValueError(f"parameter {path!r} has no plausible range to search (a sourced number is not fitted)")
        lo, hi = (float(v) for v in (ranges.get(path) or row["plausible"]))
        if not lo < hi:
            raise ValueError(f"the search range of {path!r} must have low < high, got {lo}, {hi}")
        out.append(Parameter(path, lo, hi, integer=isinstance(row["default"], int) and not isinstance(row["default"], bool)))
    return out


def get_value(data: dict, path: str) -> Any:
    node = data
    for part in path.split("."):
        node = node[part]
    return node


def set_values(data: dict, values: dict[str, Any]) -> dict:
    """A copy of a config dict with dotted-path values set."""
    return deep_merge(json.loads(json.dumps(data)), nest_dotted(values))


# ---- targets ------------------------------------------------------------------------------------
def required_end(targets: Sequence[Target]) -> str:
    """The last month a run must cover for these targets. A target dated January is a census or a
    calendar-year flow (needs December); one dated April a financial year (needs March next
    year); any other date an event in that month (KS4 results in July, NEET in September)."""
    ends = []
    for t in targets:
        d = pd.Timestamp(t.date)
        if d.month == 1:
            ends.append((d.year, 12))
        elif d.month == 4:
            ends.append((d.year + 1, 3))
        else:
            ends.append((d.year, d.month))
    year, month = max(ends)
    return f"{year:04d}-{month:02d}"


def custom_targets(path: str | Path) -> tuple[Target, ...]:
    """Targets from a CSV with columns id, metric, by, group, date, published, tolerance (values
    already in the metric's unit)."""
    path = Path(path)
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "metric", "by", "group", "date", "published", "tolerance"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            tol = float(row["tolerance"])
            if not tol > 0:
                raise ValueError(f"{path}: target {row['id']} needs a positive tolerance")
            out.append(Target(row["id"], row.get("quantity") or row["id"], float(row["published"]), "", 1.0,
                              row["metric"], row["by"], row["group"], str(pd.Timestamp(row["date"]).date()), "",
                              tol, "flow", str(path), "as given", "as given", csv_value=False))
    if not out:
        raise ValueError(f"{path}: no targets")
    return tuple(out)


def parse_targets(spec: str, available: Sequence[Target] = TARGETS) -> tuple[Target, ...]:
    """`all`, a comma list of target ids, or a CSV path of custom targets."""
    spec = spec.strip()
    if spec == "all":
        return tuple(available)
    if spec.lower().endswith(".csv") or Path(spec).is_file():
        return custom_targets(spec)
    by_id = {t.id: t for t in available}
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise ValueError(f"unknown target id(s): {', '.join(unknown)} (see docs/VALIDATION.md)")
    return tuple(by_id[i] for i in ids)


# ---- evaluating a configuration -------------------------------------------------------------------
def _evaluate_task(item: tuple) -> tuple:
    """Worker: run one replicate of one configuration, return its value of every target.
    Top level and plain data in/out so any executor can run it."""
    key, payload, replicate, root_seed, targets = item
    config = validate_config(payload)
    model = SendModel(config, seed=replicate_seed(root_seed, replicate)).run()
    checks = check_targets(compute_metrics(model), targets)
    return key, replicate, dict(zip(checks["id"], checks["model"].astype(float)))


def evaluate_many(payloads: dict[Any, dict], targets: Sequence[Target], replicates: int, root_seed: int,
                  executor, first_replicate: int = 0) -> dict[Any, pd.DataFrame]:
    """Per-replicate target values (rows = replicate, columns = target id) for several configs,
    all replicates of all configs through one executor. Replicates `first_replicate` ..
    `first_replicate + replicates - 1` of the root seed are run, so a later batch can draw fresh
    replicates that an earlier one never saw."""
    targets = tuple(targets)
    items = [(key, payload, r, root_seed, targets) for key, payload in payloads.items()
             for r in range(first_replicate, first_replicate + replicates)]
    values: dict[Any, dict[int, dict]] = {key: {} for key in payloads}
    for key, replicate, row in executor.map_unordered(_evaluate_task, items):
        values[key][replicate] = row
    ids = [t.id for t in targets]
    return {key: pd.DataFrame([rows[r] for r in sorted(rows)], index=sorted(rows), columns=ids) for key, rows in values.items()}


def loss_of(values: pd.DataFrame, targets: Sequence[Target], weights: dict[str, float] | None = None) -> float:
    """Sum of squared tolerance-scaled errors of the replicate means (missing -> penalty), each
    term multiplied by its target's weight in `weights` (by target id; 1 if absent)."""
    total = 0.0
    weights = weights or {}
    for t in targets:
        weight = float(weights.get(t.id, 1.0))
        column = values[t.id].astype(float)
        column = column[np.isfinite(column)]
        if column.empty:
            total += weight * MISSING_PENALTY
            continue
        total += weight * ((float(column.mean()) - float(t.published)) / float(t.tolerance)) ** 2
    return total


def implausibility_of(values: pd.DataFrame, targets: Sequence[Target]) -> float:
    """History-matching implausibility of one parameter set: the largest |replicate-mean model -
    published| / tolerance over the targets (a target the run did not produce counts as
    infinitely implausible). The tolerances already hold the published figure's uncertainty and
    the model's known discrepancy (docs/VALIDATION.md), so I <= 3 is the usual 'not ruled out' cut."""
    worst = 0.0
    for t in targets:
        column = values[t.id].astype(float)
        column = column[np.isfinite(column)]
        if column.empty:
            return math.inf
        worst = max(worst, abs(float(column.mean()) - float(t.published)) / float(t.tolerance))
    return worst


def fit_table(values: pd.DataFrame, targets: Sequence[Target]) -> pd.DataFrame:
    """Target, published, model mean with 95% replicate interval, error, z = error/tolerance, ok."""
    rows = []
    for t in targets:
        column = values[t.id].astype(float)
        column = column[np.isfinite(column)]
        model = float(column.mean()) if len(column) else math.nan
        lo = float(column.quantile(0.025)) if len(column) else math.nan
        hi = float(column.quantile(0.975)) if len(column) else math.nan
        error = model - float(t.published)
        rows.append({"id": t.id, "quantity": t.quantity, "published": float(t.published), "model": model,
                     "model_lo": lo, "model_hi": hi, "tolerance": float(t.tolerance), "error": error,
                     "z": error / float(t.tolerance), "ok": bool(np.isfinite(error) and abs(error) <= t.tolerance)})
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


# ---- the fit --------------------------------------------------------------------------------------
@dataclass
class CalibrationResult:
    """Outcome of a fit. `history` has one row per trial (trial, loss, implausibility, one column
    per parameter);
    `fit` is the fit table at the best parameters, `fit_before` at the starting config."""

    best_params: dict[str, float]
    start_params: dict[str, float]
    best_loss: float
    initial_loss: float
    history: pd.DataFrame
    fit: pd.DataFrame
    fit_before: pd.DataFrame
    target_ids: list[str]
    parameters: list[Parameter]
    budget: int
    replicates: int
    seed: int
    run_end: str
    settings: dict[str, Any] = field(default_factory=dict)

    #: trial numbers re-run with fresh replicates (`confirm`), and their loss on those replicates
    confirmed: dict[int, float] = field(default_factory=dict)

    @property
    def best_trial(self) -> int:
        if self.confirmed:
            return min(self.confirmed, key=lambda n: (self.confirmed[n], n))
        return int(self.history.loc[self.history["loss"].idxmin(), "trial"])

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record of the whole fit (the `.fit.json` sidecar)."""
        def clean(frame: pd.DataFrame) -> list[dict]:
            return json.loads(frame.to_json(orient="records"))

        return {
            "date": date.today().isoformat(),
            "budget": self.budget, "replicates": self.replicates, "seed": self.seed, "run_end": self.run_end,
            "settings": self.settings,
            "parameters": [{"path": p.path, "low": p.low, "high": p.high, "start": self.start_params[p.path],
                            "best": self.best_params[p.path]} for p in self.parameters],
            "targets": self.target_ids,
            "loss_before": self.initial_loss, "loss_after": self.best_loss, "best_trial": self.best_trial,
            "confirmed": {str(n): loss for n, loss in self.confirmed.items()},
            "fit": clean(self.fit), "fit_before": clean(self.fit_before), "history": clean(self.history),
        }


def _round(value: float, integer: bool) -> float | int:
    return int(round(value)) if integer else float(f"{value:.4g}")


def calibrate(
    config: ScenarioConfig,
    targets: Sequence[Target] = TARGETS,
    parameters: Sequence[str] | None = None,
    budget: int = 40,
    replicates: int = 2,
    executor: str | Any = "local",
    workers: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    confirm: int = 0,
    confirm_replicates: int = 0,
    weights: dict[str, float] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> CalibrationResult:
    """Fit `parameters` (default `DEFAULT_PARAMETERS`) to `targets` with `budget` trials.

    Trial 0 is the starting config (its values clipped into the search range), so `initial_loss`
    is the loss before fitting and the best loss can never be worse. `executor` is a name for
    `make_executor` or an executor object (not closed here). `progress(done, budget, best_loss)`
    is called after every trial. The config's run is cut at the last target date.

    With `confirm` k > 0 the k trials of lowest loss, and trial 0, are run again on
    `confirm_replicates` fresh replicates (numbers `replicates` onwards of the same root seed,
    which the search never saw) and the best of them *on those replicates* is kept; `initial_loss`
    and `best_loss` are then losses on the fresh replicates. Why: with few replicates of a small
    population the loss's own noise is as large as the differences between trials, and the
    trial of lowest search loss is partly the one whose replicates happened to fall well (the
    winner's curse); re-running the few best on independent replicates removes that selection
    bias, and more replicates shrink the noise where the choice is made, for a fraction of the
    search's cost.

    `weights` (target id -> weight, default 1) weigh the loss's terms, in the search and in the
    confirmation alike; `ranges` replaces some levers' search ranges (`parameter_space`).
    """
    optuna = require_extra("optuna", "calibration", "Calibration (sendsim calibrate)")

    targets = tuple(targets)
    if not targets:
        raise ValueError("no targets to calibrate to")
    if budget < 1 or replicates < 1:
        raise ValueError("budget and replicates must be at least 1")
    space = parameter_space(parameters, ranges)
    weights = dict(weights or {})
    if any(not (math.isfinite(w) and w >= 0) for w in weights.values()):
        raise ValueError("target weights must be finite and non-negative")
    base = config.model_dump(mode="json")
    run_end = required_end(targets)
    base["run"]["end"] = run_end
    validate_config(base)  # a target date before the start is reported here, before any run
    root_seed = int(base["run"]["seed"])
    start = {p.path: get_value(base, p.path) for p in space}
    start_clipped = {p.path: _round(min(max(float(start[p.path]), p.low), p.high), p.integer) for p in space}

    own = isinstance(executor, str)
    pool = make_executor(executor, workers) if own else executor
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                         n_startup_trials=max(4, min(10, budget // 3)))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(start_clipped)
    batch_size = max(1, math.ceil(getattr(pool, "workers", 1) / replicates))
    history, kept, best = [], {}, (math.inf, None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            while len(history) < budget:
                trials = [study.ask() for _ in range(min(batch_size, budget - len(history)))]
                chosen = {}
                for trial in trials:
                    chosen[trial.number] = {
                        p.path: (trial.suggest_int(p.path, int(p.low), int(p.high)) if p.integer
                                 else trial.suggest_float(p.path, p.low, p.high)) for p in space}
                payloads = {n: set_values(base, values) for n, values in chosen.items()}
                results = evaluate_many(payloads, targets, replicates, root_seed, pool)
                for trial in trials:
                    values = results[trial.number]
                    loss = loss_of(values, targets, weights)
                    study.tell(trial, loss)
                    history.append({"trial": trial.number, "loss": loss,
                                    "implausibility": implausibility_of(values, targets), **chosen[trial.number]})
                    if trial.number == 0:
                        kept["start"] = values
                    if loss < best[0]:
                        best = (loss, trial.number)
                        kept["best"] = values
                    if progress:
                        progress(len(history), budget, best[0])
        confirmed: dict[int, float] = {}
        if confirm > 0 and confirm_replicates > 0:
            ranked = sorted(history, key=lambda row: (row["loss"], row["trial"]))
            shortlist = sorted({0, *(int(row["trial"]) for row in ranked[:confirm])})
            rows = {int(row["trial"]): row for row in history}
            payloads = {n: set_values(base, {p.path: rows[n][p.path] for p in space}) for n in shortlist}
            fresh = evaluate_many(payloads, targets, confirm_replicates, root_seed, pool, first_replicate=replicates)
            confirmed = {n: loss_of(fresh[n], targets, weights) for n in shortlist}
            chosen_trial = min(shortlist, key=lambda n: (confirmed[n], n))
            best = (confirmed[chosen_trial], chosen_trial)
            kept["start"], kept["best"] = fresh[0], fresh[chosen_trial]
    finally:
        if own:
            pool.close()
    frame = pd.DataFrame(history).sort_values("trial").reset_index(drop=True)
    best_row = frame.loc[frame["trial"] == best[1]].iloc[0]
    best_params = {p.path: _round(float(best_row[p.path]), p.integer) for p in space}
    initial = confirmed[0] if confirmed else float(frame.loc[frame["trial"] == 0, "loss"].iloc[0])
    return CalibrationResult(
        best_params=best_params, start_params=start_clipped, best_loss=float(best[0]),
        initial_loss=float(initial), history=frame,
        fit=fit_table(kept["best"], targets), fit_before=fit_table(kept["start"], targets),
        target_ids=[t.id for t in targets], parameters=space, budget=budget, replicates=replicates,
        seed=seed, run_end=run_end,
        settings={"scenario": config.name, "scale": config.population.scale, "councils": config.population.councils,
                  "council_table": config.population.council_table, "start": config.run.start,
                  "root_seed": root_seed, "confirm": confirm, "confirm_replicates": confirm_replicates,
                  "weights": weights, "ranges": {p: list(r) for p, r in (ranges or {}).items()}},
        confirmed=confirmed,
    )


# ---- writing the calibrated scenario ---------------------------------------------------------------
def sidecar_path(out_path: str | Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".fit.json")


CALIBRATED_HEADER = "# Calibrated by `sendsim calibrate`"


def check_calibration_out(out_path: str | Path) -> None:
    """Refuse (OutputError) to overwrite a file `sendsim calibrate` did not write: the calibrated
    YAML is recognised by its first line, its fit record by the YAML it belongs to."""
    out_path = Path(out_path)
    ours = False
    for path in (out_path, sidecar_path(out_path)):
        if path.is_symlink() or path.is_dir():
            raise OutputError(f"{path} is a {'symbolic link' if path.is_symlink() else 'directory'}; "
                              f"choose another --out for the calibrated YAML")
    if out_path.exists():
        try:
            with open(out_path, encoding="utf-8", errors="replace") as handle:
                ours = handle.readline().startswith(CALIBRATED_HEADER)
        except OSError:
            ours = False
        if not ours:
            raise OutputError(f"{out_path} exists and was not written by `sendsim calibrate`; refusing to "
                              f"overwrite it — choose another --out")
    if sidecar_path(out_path).exists() and not ours:
        raise OutputError(f"{sidecar_path(out_path)} exists but {out_path.name} is not a calibrated config; "
                          f"refusing to overwrite it — choose another --out")


def write_calibrated_config(result: CalibrationResult, base_config_path: str | Path, out_path: str | Path,
                            name: str | None = None) -> Path:
    """Write `out_path`: a YAML that `extends:` the base with the fitted values, the fit summarised
    in a comment header and `description`, and `<out>.fit.json` with the full fit record. Configs
    accept only known keys, so the metadata lives in comments, the description and the sidecar."""
    base_config_path, out_path = Path(base_config_path), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    extends = os.path.relpath(base_config_path.resolve(), out_path.parent.resolve())
    met_before, met_after = int(result.fit_before["ok"].sum()), int(result.fit["ok"].sum())
    n = len(result.fit)
    name = name or f"{out_path.stem}"
    description = (
        f"{base_config_path.stem} with {len(result.parameters)} assumption levers fitted to {n} published targets "
        f"({date.today().isoformat()}; {result.budget} trials x {result.replicates} replicates at scale "
        f"{result.settings.get('scale')}): loss {result.initial_loss:.2f} -> {result.best_loss:.2f}, "
        f"targets met {met_before} -> {met_after} of {n}. Fit record: {sidecar_path(out_path).name}."
    )
    header = [
        f"{CALIBRATED_HEADER} on {date.today().isoformat()} (sim/calibration/fit.py).",
        f"# Base: {extends}. Optuna TPE (seed {result.seed}), budget {result.budget} trials x {result.replicates} replicates,",
        f"# common random numbers (root seed {result.settings.get('root_seed')}), scale {result.settings.get('scale')}, "
        f"runs {result.settings.get('start')} to {result.run_end}.",
        f"# Loss (sum of ((model - published) / tolerance)^2): before {result.initial_loss:.3f}, after {result.best_loss:.3f} "
        f"(best trial {result.best_trial}).",
        f"# Targets used ({n}): {', '.join(result.target_ids)}",
        f"# Targets within tolerance: {met_before} before, {met_after} after.",
        "# Fitted (start -> fitted, searched range):",
    ]
    for p in result.parameters:
        header.append(f"#   {p.path}: {result.start_params[p.path]} -> {result.best_params[p.path]}  [{p.low}, {p.high}]")
    header.append(f"# Full record (history, fit table): {sidecar_path(out_path).name}")
    body = {"extends": extends, "name": name, "description": description, **nest_dotted(result.best_params)}
    text = "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, width=100)
    _replace_file(sidecar_path(out_path), json.dumps(result.to_record(), indent=2))
    _replace_file(out_path, text)
    return out_path


def _replace_file(path: Path, text: str) -> None:
    """Write a hidden temporary file beside `path`, then rename it over: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def render_fit(fit: pd.DataFrame) -> str:
    """The fit table as Markdown (published, model [95%], error, tolerance, ok)."""
    lines = ["| target | published | model [95% interval] | error | tolerance | ok |", "|---|---|---|---|---|---|"]
    for row in fit.itertuples(index=False):
        lines.append(f"| {row.id} | {row.published:.4g} | {row.model:.4g} [{row.model_lo:.4g}, {row.model_hi:.4g}] | "
                     f"{row.error:+.3g} | ±{row.tolerance:.3g} | {'yes' if row.ok else '**no**'} |")
    return "\n".join(lines)


# ---- command ---------------------------------------------------------------------------------------
def calibrate_command(config_path: str | Path, targets_spec: str = "all", budget: int = 40,
                      out: str | Path | None = None, executor: str = "local", workers: int | None = None,
                      replicates: int = 2, parameters: Sequence[str] | None = None, seed: int = 0,
                      echo: Callable[[str], None] = print) -> CalibrationResult:
    """`sendsim calibrate CONFIG --targets all|ID,ID|file.csv [--budget N] [--out PATH]`: fit, write
    the calibrated YAML (default `<config>_calibrated.yaml` beside the config) and its fit record,
    print the fit table. Raises ConfigError / ValueError with a readable message on bad input."""
    config_path = Path(config_path)
    config = load_config(config_path)
    targets = parse_targets(targets_spec)
    out = Path(out) if out else config_path.with_name(f"{config_path.stem}_calibrated.yaml")
    check_calibration_out(out)  # before an hour of fitting, not after it

    def report(done: int, total: int, best_loss: float) -> None:
        echo(f"trial {done}/{total}: best loss {best_loss:.3f}")

    result = calibrate(config, targets, parameters=parameters, budget=budget, replicates=replicates,
                       executor=executor, workers=workers, seed=seed, progress=report)
    write_calibrated_config(result, config_path, out)
    echo(render_fit(result.fit))
    echo(f"\nloss {result.initial_loss:.3f} -> {result.best_loss:.3f}; "
         f"{int(result.fit['ok'].sum())} of {len(result.fit)} targets within tolerance")
    echo(f"wrote {out} and {sidecar_path(out)}")
    return result
