"""Calibration as a distribution: an ensemble of parameter sets consistent with the data.

Why: a single best fit hides how much the data leave the parameters open. Two parameter sets
that match every published target about equally well can disagree on what a reform does, and a
comparison run at one of them reports only the Monte Carlo spread. An ensemble keeps every set
the data do not rule out, so that `sendsim run` and `sendsim compare` with `--ensemble` can
report intervals that combine parameter and stochastic uncertainty ("in N% of plausible worlds").

How the ensemble is built (`from_calibration`): history matching on the trials of a calibration.
Each trial's implausibility is the largest |model - published| / tolerance over the targets
(`fit.implausibility_of`); the tolerances already hold the published figure's uncertainty and
the model's known discrepancy, so a trial with implausibility at most `cutoff` (3 by default,
the usual three-sigma rule) is not ruled out. A second condition (`sim.calibration.stability`)
rules out trials whose own assessment queue explodes after 2025, which the calendar-2025
targets cannot see: each trial that passes is run on two more years and a shortfall of its own
20-week timeliness below the 2025 figure (less the published 2023-2025 fall) joins the max.
The members are those trials (up to
`max_members`, drawn at random with a seed when there are more), weighted equally: history
matching says which worlds are still plausible, not which is more likely. The trials come from
the optimiser, which concentrates its search near the best fit, so the ensemble under-represents
the edges of the plausible region; more trials widen it. When fewer than `min_members` trials
pass the cut, the ensemble holds the least implausible trials instead and says so
(`cut_met: false`): its intervals are then conditional on a model that does not yet match the
data, which a reader must be told.

The file (`ensemble.yaml`) is data: format, provenance (date, base config, targets, method) and
one entry per member with its name, weight, implausibility, loss and parameter overrides
(dotted schema paths). `load_ensemble` validates all of it and names the offending field.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.config import ConfigError, ScenarioConfig, validate_config
from sim.config.loader import deep_merge, nest_dotted
from sim.config.params import parameter_table

FORMAT = "sendsim-ensemble/1"
DEFAULT_CUTOFF = 3.0


class EnsembleError(ValueError):
    """An ensemble file is invalid; the message names the file and the field."""


class Member(BaseModel):
    """One plausible parameter set."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    weight: float = Field(gt=0.0, le=1.0)
    implausibility: float | None = Field(default=None, ge=0.0)
    loss: float | None = Field(default=None, ge=0.0)
    #: the stability condition's own implausibility and the later-year value it was computed from
    #: (sim/calibration/stability.py); `implausibility` is already the max of it and the targets'
    stability_implausibility: float | None = Field(default=None, ge=0.0)
    later_value: float | None = None
    overrides: dict[str, float | int] = Field(min_length=1)

    @field_validator("overrides")
    @classmethod
    def _known_paths(cls, value: dict[str, float | int]) -> dict[str, float | int]:
        known = _parameter_paths()
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown parameter path(s) {unknown} (see `sendsim params`)")
        return value


class Ensemble(BaseModel):
    """The ensemble file."""

    model_config = ConfigDict(extra="forbid")

    format: str
    created: str
    base_config: str
    method: str
    targets: list[str]
    implausibility_cutoff: float = Field(gt=0.0)
    cut_met: bool
    #: the second history-matching condition in words (sim/calibration/stability.py), if applied
    stability_check: str | None = None
    members: list[Member] = Field(min_length=1)

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != FORMAT:
            raise ValueError(f"expected {FORMAT!r}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Ensemble":
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"member names must be unique, got {names}")
        total = sum(m.weight for m in self.members)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"member weights must sum to 1, got {total:.6g}")
        paths = [sorted(m.overrides) for m in self.members]
        if any(p != paths[0] for p in paths):
            raise ValueError("every member must override the same parameters")
        return self

    @property
    def parameters(self) -> list[str]:
        return sorted(self.members[0].overrides)

    def weights(self) -> np.ndarray:
        return np.array([m.weight for m in self.members], dtype=float)


def _parameter_paths() -> set[str]:
    return {row["path"] for row in parameter_table(ScenarioConfig)}


def apply_member(config: ScenarioConfig | dict, member: Member) -> ScenarioConfig:
    """The config with the member's overrides set (a ConfigError names any value out of range)."""
    data = config.model_dump(mode="json") if isinstance(config, ScenarioConfig) else json.loads(json.dumps(config))
    return validate_config(deep_merge(data, nest_dotted(member.overrides)), origin=f"ensemble member {member.name!r}")


def _explain(exc: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid ensemble ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        parts = []
        for p in error["loc"]:
            if isinstance(p, int):
                parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
            else:
                parts.append(str(p))
        where = ".".join(parts) or "<top level>"
        if error["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown field")
        elif error["type"] == "missing":
            lines.append(f"  {where}: required field missing")
        else:
            lines.append(f"  {where} = {error.get('input')!r}: {error['msg']}")
    return "\n".join(lines)


def validate_ensemble(data: Any, origin: str = "<ensemble>") -> Ensemble:
    """Check structure and every member's values against the schema's bounds."""
    if not isinstance(data, dict):
        raise EnsembleError(f"{origin}: an ensemble file is a mapping with format, members, ... (got {type(data).__name__})")
    try:
        ensemble = Ensemble.model_validate(data)
    except ValidationError as exc:
        raise EnsembleError(_explain(exc, origin)) from None
    defaults = ScenarioConfig().model_dump(mode="json")
    for i, member in enumerate(ensemble.members):
        try:
            apply_member(defaults, member)
        except ConfigError as exc:
            detail = str(exc).split("\n", 1)[-1]
            raise EnsembleError(f"{origin}: members[{i}].overrides (member {member.name!r}) out of range:\n{detail}") from None
    return ensemble


def load_ensemble(path: str | Path) -> Ensemble:
    """Read and validate an ensemble file (YAML or JSON)."""
    path = Path(path)
    if not path.is_file():
        raise EnsembleError(f"{path}: no such ensemble file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EnsembleError(f"{path}: not valid YAML ({exc})") from None
    return validate_ensemble(data, origin=str(path))


def save_ensemble(ensemble: Ensemble, path: str | Path) -> Path:
    """Write the ensemble as YAML (validated again, so a saved file always loads)."""
    data = ensemble.model_dump(mode="json")
    validate_ensemble(data, origin=str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Ensemble of parameter sets consistent with the published targets (sim/calibration/ensemble.py).\n"
              "# Use with `sendsim run CONFIG --ensemble FILE` or `sendsim compare BASE REFORM --ensemble FILE`.\n")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100), encoding="utf-8")
    return path


def from_calibration(result, base_config: str | Path, cutoff: float = DEFAULT_CUTOFF, min_members: int = 2,
                     max_members: int = 10, seed: int = 0, stability=None, stability_check: str | None = None) -> Ensemble:
    """History matching on a calibration's trials (see the module docstring).

    `stability` (optional; `sim.calibration.stability.screen`) holds, per screened trial, the
    implausibility of the second condition (the assessment queue not on an explosive path); a
    trial's implausibility is then the max of its targets' and that one, and `stability_check`
    (the condition in words) is recorded in the file."""
    if min_members < 1 or max_members < min_members:
        raise ValueError("need 1 <= min_members <= max_members")
    history = result.history.copy()
    if "implausibility" not in history.columns:
        raise ValueError("the calibration history has no implausibility column (re-run the calibration)")
    paths = [p.path for p in result.parameters]
    history = history[np.isfinite(history["implausibility"].astype(float))]
    history["targets_implausibility"] = history["implausibility"].astype(float)
    history["stability_implausibility"] = np.nan
    history["later_value"] = np.nan
    ruled_out_later = 0
    if stability is not None and len(stability):
        extra = stability.set_index("trial")
        screened = history["trial"].isin(extra.index)
        for column in ("stability_implausibility", "later_value"):
            history.loc[screened, column] = history.loc[screened, "trial"].map(extra[column]).astype(float).to_numpy()
        history["implausibility"] = np.fmax(history["targets_implausibility"], history["stability_implausibility"])
        ruled_out_later = int(((history["targets_implausibility"] <= cutoff) & (history["implausibility"] > cutoff)).sum())
    passed = history[history["implausibility"] <= cutoff]
    cut_met = len(passed) >= min_members
    if cut_met:
        chosen = passed
        if len(chosen) > max_members:
            chosen = chosen.sample(n=max_members, random_state=seed)
    else:
        chosen = history.nsmallest(min_members, "implausibility")
    chosen = chosen.sort_values(["implausibility", "trial"])
    weight = 1.0 / len(chosen)
    integer = {p.path for p in result.parameters if p.integer}

    def optional(value) -> float | None:
        return float(value) if np.isfinite(float(value)) else None

    members = [
        Member(name=f"trial_{int(row['trial'])}", weight=weight, implausibility=float(row["implausibility"]),
               loss=float(row["loss"]), stability_implausibility=optional(row["stability_implausibility"]),
               later_value=optional(row["later_value"]),
               overrides={p: (int(round(row[p])) if p in integer else float(f"{float(row[p]):.6g}")) for p in paths})
        for _, row in chosen.iterrows()
    ]
    # equal weights that sum to 1 exactly after rounding
    members[-1] = members[-1].model_copy(update={"weight": 1.0 - weight * (len(members) - 1)})
    method = (f"history matching on {len(history)} calibration trials (Optuna TPE, seed {result.seed}, "
              f"{result.replicates} replicates, scale {result.settings.get('scale')}): implausibility = max over "
              f"targets of |model - published| / tolerance"
              + (f", {stability_check}" if stability_check else "")
              + f"; members are trials with implausibility <= {cutoff:g}"
              + (f" ({len(passed)} passed" + (f", {ruled_out_later} more passed the targets alone" if stability_check else "")
                 + f"; {len(chosen)} kept at random, seed {seed})" if cut_met else
                 f"; only {len(passed)} passed, so the {len(chosen)} least implausible trials are kept instead")
              + "; equal weights")
    return Ensemble(format=FORMAT, created=date.today().isoformat(), base_config=str(base_config), method=method,
                    targets=list(result.target_ids), implausibility_cutoff=cutoff, cut_met=cut_met,
                    stability_check=stability_check, members=members)

