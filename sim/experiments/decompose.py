"""Which part of a reform does what: a reform taken apart into named components.

Why: a reform is a bundle (new money, new staff, new buildings, a new legal framework,
protections for those already in the system, a surge of requests before the switch). A single
baseline-vs-reform comparison says what the bundle does, not which part does it: the access
gains may come from support reaching children earlier while the losers come from the legal
restructuring. Taking the reform apart answers that, and is the reading a policy debate needs.

A **component** is a named set of configuration keys (`configs/components/*.yaml`). Its "on"
values are the reform's; its "off" values are given in the file under `when_off` (null = the
baseline's value).
Keys that differ between the resolved baseline and reform and that no component names form one
more component, `remaining`, so nothing is silently left out. `hold` keys (the route) keep the
reform's value in every sub-run: they select the machinery the components switch on.

Every sub-run (a set S of components on, the rest off) is run with the baseline's root seed, so
replicate r of every sub-run holds the same children with the same luck (common random numbers),
and each outcome is a paired change against the baseline inside the replicate: v(S). Three
readings of the same set function:

- **alone**: v({i}) - v(empty): the component added to a reform with everything else off;
- **sequential**: v(first i components) - v(first i-1), in the file's order: adds up exactly;
- **Shapley**: each component's average marginal contribution over every order (2^k sub-runs,
  so only computed when asked or when there are few components): adds up exactly and does not
  depend on an order.

v(empty) - the route with every component off - is reported as its own row (`route_residual`),
so that residual + sequential (or Shapley) contributions = the whole reform's change, per
replicate. Contributions are computed per replicate and then summarised (mean and t-interval).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.config import ConfigError, ScenarioConfig, config_hash, validate_config
from sim.experiments.headline import paired_outcomes
from sim.experiments.provenance import (
    command_line,
    git_state,
    now_iso,
    package_versions,
)
from sim.experiments.results import write_manifest
from sim.experiments.runner import combine, run_replicates
from sim.metrics.intervals import t_bounds
from sim.metrics.registry import DECOMPOSITION_OUTCOMES

DECOMPOSITION_CSV = "decomposition.csv"
REMAINING = "remaining"
RESIDUAL = "route_residual"
TOTAL = "total"
SHAPLEY_AUTO_MAX = 4  # components up to which Shapley values are computed by default (2^4 = 16 sub-runs)
#: keys that never define a component: names, text and the seed (the seed is always the baseline's)
IGNORED_KEYS = ("name", "description", "run.seed")


# what the decomposition attributes to components (label, unit, direction: the metric registry)
OUTCOMES = DECOMPOSITION_OUTCOMES
OUTCOME_BY_NAME = {o.name: o for o in OUTCOMES}
COLUMNS = ["method", "component", "label", "order", "outcome", "unit", "value", "lo", "hi", "replicates"]


class DecompositionError(ValueError):
    """The components file does not fit the reform (unknown key, bad value, overlap)."""


@dataclass(frozen=True)
class Component:
    """A named set of configuration keys switched together; `off` maps dotted key -> off value."""

    name: str
    label: str
    off: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentPlan:
    """The components of one reform, their on/off values resolved, and the held keys."""

    components: tuple[Component, ...]
    on: dict[str, Any]
    hold: tuple[str, ...]


# ---- configuration plumbing -------------------------------------------------------------------
def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1} (lists are values, not branches)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _set(data: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = value


def reform_diff(baseline: ScenarioConfig, reform: ScenarioConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (baseline value, reform value) for every key the reform changes."""
    b = flatten(baseline.model_dump(mode="json"))
    r = flatten(reform.model_dump(mode="json"))
    return {key: (b.get(key), r[key]) for key in r if key not in IGNORED_KEYS and b.get(key) != r[key]}


def load_components(path: Path | str) -> tuple[list[Component], tuple[str, ...], Path | None]:
    """Read a components file: (components, held keys, the reform file it describes or None)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DecompositionError(f"cannot read the components file {path}: {exc}") from None
    if not isinstance(data.get("components"), list) or not data["components"]:
        raise DecompositionError(f"{path}: `components` must be a non-empty list of {{name, label, when_off}}")
    components = []
    for i, item in enumerate(data["components"]):
        if not isinstance(item, dict) or "name" not in item or not isinstance(item.get("when_off"), dict) \
                or not item["when_off"]:
            raise DecompositionError(f"{path}: components[{i}] needs a `name` and a non-empty `when_off` mapping "
                                     "of dotted configuration keys to their values when the component is off")
        name = str(item["name"])
        if name in (REMAINING, RESIDUAL, TOTAL):
            raise DecompositionError(f"{path}: component name {name!r} is reserved")
        components.append(Component(name, str(item.get("label", name)), dict(item["when_off"])))
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise DecompositionError(f"{path}: component names repeat: {names}")
    hold = tuple(str(k) for k in data.get("hold", []) or [])
    reform = (path.parent / data["reform"]).resolve() if data.get("reform") else None
    return components, hold, reform


def plan_components(baseline: ScenarioConfig, reform: ScenarioConfig, components: list[Component],
                    hold: tuple[str, ...] = ()) -> ComponentPlan:
    """Check the components against the two configurations; add `remaining`; resolve off values.

    Raises `DecompositionError` naming the key when a component names a key the schema does not
    have, two components share a key, or a held key is also switched.
    """
    base_flat = flatten(baseline.model_dump(mode="json"))
    reform_flat = flatten(reform.model_dump(mode="json"))
    seen: dict[str, str] = {}
    resolved = []
    for component in components:
        off = {}
        for key, value in component.off.items():
            if key not in reform_flat:
                raise DecompositionError(f"component {component.name!r}: unknown configuration key {key!r}")
            if key in seen:
                raise DecompositionError(f"key {key!r} is in both {seen[key]!r} and {component.name!r}")
            if key in hold:
                raise DecompositionError(f"key {key!r} is held at the reform's value and cannot be in {component.name!r}")
            seen[key] = component.name
            off[key] = base_flat.get(key) if value is None else value
        resolved.append(Component(component.name, component.label, off))
    left = {key: b for key, (b, _) in reform_diff(baseline, reform).items() if key not in seen and key not in hold}
    if left:
        resolved.append(Component(REMAINING, "Remaining changes: " + ", ".join(f"`{k}`" for k in sorted(left)), left))
    on = {key: reform_flat[key] for c in resolved for key in c.off}
    plan = ComponentPlan(tuple(resolved), on, hold)
    for subset in (frozenset(), frozenset(c.name for c in resolved)):
        subset_config(reform, plan, subset)  # validate both extremes now: a bad off value fails before any run
    return plan


def subset_config(reform: ScenarioConfig, plan: ComponentPlan, on: frozenset[str]) -> ScenarioConfig:
    """The reform with the components in `on` switched on and every other one off."""
    data = copy.deepcopy(reform.model_dump(mode="json"))
    for component in plan.components:
        if component.name in on:
            continue
        for key, value in component.off.items():
            _set(data, key, value)
    parts = sorted(on) if on else ["nothing"]
    data["name"] = f"{reform.name}[{'+'.join(parts)}]"
    try:
        return validate_config(data)
    except ConfigError as exc:  # names the field and the allowed range
        raise DecompositionError(f"switching components off gives an invalid configuration: {exc}") from None


# ---- the set function and its three readings -----------------------------------------------
def shapley_weights(n: int) -> dict[int, float]:
    """Weight of a coalition of size s in a Shapley value over n players: s!(n-s-1)!/n!."""
    return {s: math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)}


def needed_subsets(names: list[str], shapley: bool) -> list[frozenset[str]]:
    """Sub-runs needed: empty, each alone, each prefix of the sequence (the last is the reform), all for Shapley."""
    subsets: dict[frozenset[str], None] = {frozenset(): None}
    for name in names:
        subsets[frozenset([name])] = None
    for i in range(1, len(names) + 1):
        subsets[frozenset(names[:i])] = None
    if shapley:
        for size in range(len(names) + 1):
            for combo in itertools.combinations(names, size):
                subsets[frozenset(combo)] = None
    return list(subsets)


def contributions(values: dict[frozenset[str], pd.DataFrame], names: list[str], shapley: bool) -> pd.DataFrame:
    """Per replicate and outcome: alone, sequential and (optionally) Shapley contributions, residual, total.

    `values[S]` is the per-replicate outcome frame of sub-run S (`paired_outcomes`).
    """
    empty = values[frozenset()]
    full = values[frozenset(names)]
    frames = []

    def add(method: str, component: str, order: int, frame: pd.DataFrame) -> None:
        long = frame.reset_index().melt(id_vars="replicate", var_name="outcome", value_name="value")
        long["method"], long["component"], long["order"] = method, component, order
        frames.append(long)

    add("total", TOTAL, len(names) + 1, full)
    add("residual", RESIDUAL, 0, empty)
    for i, name in enumerate(names, start=1):
        add("alone", name, i, values[frozenset([name])] - empty)
        add("sequential", name, i, values[frozenset(names[:i])] - values[frozenset(names[:i - 1])])
    if shapley:
        n = len(names)
        weights = shapley_weights(n)
        for i, name in enumerate(names, start=1):
            others = [m for m in names if m != name]
            phi = 0.0 * empty
            for size in range(n):
                for combo in itertools.combinations(others, size):
                    s = frozenset(combo)
                    phi = phi + weights[size] * (values[s | {name}] - values[s])
            add("shapley", name, i, phi)
    return pd.concat(frames, ignore_index=True)


def summarise_contributions(per_replicate: pd.DataFrame, labels: dict[str, str], level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval across replicates of every (method, component, outcome)."""
    rows = []
    keys = ["method", "component", "order", "outcome"]
    for (method, component, order, outcome), part in per_replicate.groupby(keys, sort=False):
        values = part["value"].dropna().to_numpy(dtype=float)
        lo, hi = t_bounds(values, level)
        spec = OUTCOME_BY_NAME[outcome]
        rows.append({"method": method, "component": component, "label": labels.get(component, component),
                     "order": order, "outcome": outcome, "unit": spec.unit,
                     "value": float(values.mean()) if len(values) else np.nan, "lo": lo, "hi": hi,
                     "replicates": len(values)})
    out = pd.DataFrame(rows, columns=COLUMNS)
    method_order = {m: i for i, m in enumerate(("residual", "alone", "sequential", "shapley", "total"))}
    outcome_order = {o.name: i for i, o in enumerate(OUTCOMES)}
    out["_m"] = out["method"].map(method_order)
    out["_o"] = out["outcome"].map(outcome_order)
    return out.sort_values(["_o", "_m", "order"], kind="stable").drop(columns=["_m", "_o"]).reset_index(drop=True)


# ---- the whole decomposition -------------------------------------------------------------------
def decompose(baseline: ScenarioConfig, reform: ScenarioConfig, components: list[Component], replicates: int,
              *, hold: tuple[str, ...] = ("run.route",), shapley: bool | None = None, workers: int | None = None,
              known_runs: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
              progress: Callable[[str, int, int], None] | None = None, deflator=None) -> dict:
    """Run every needed sub-run (common random numbers with the baseline) and return the tables.

    `known_runs` may hold already-run (children, system) tables: key "baseline" for the baseline
    and "reform" for the reform as given, all components on (the compare command passes
    its two runs so they are not repeated). `shapley=None` computes Shapley values when there
    are at most `SHAPLEY_AUTO_MAX` components. Returns {"table": summary frame, "per_replicate":
    contributions per replicate, "plan": ComponentPlan, "shapley": bool, "subsets": runs made}.
    """
    root_seed = baseline.run.seed
    if reform.run.seed != root_seed:
        data = reform.model_dump(mode="json")
        data["run"]["seed"] = root_seed
        reform = validate_config(data)
    plan = plan_components(baseline, reform, components, hold)
    names = [c.name for c in plan.components]
    use_shapley = len(names) <= SHAPLEY_AUTO_MAX if shapley is None else shapley
    subsets = needed_subsets(names, use_shapley)
    known = dict(known_runs or {})

    def run(config: ScenarioConfig, label: str, i: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        _, system, children = combine(run_replicates(config, replicates, root_seed=root_seed, workers=workers))
        if progress:
            progress(label, i, len(subsets) + 1)
        return children, system

    if "baseline" in known:
        base_children, base_system = known["baseline"]
    else:
        base_children, base_system = run(baseline, "baseline", 0)
    values = {}
    for i, subset in enumerate(subsets, start=1):
        if subset == frozenset(names) and "reform" in known:
            children, system = known["reform"]
        else:
            children, system = run(subset_config(reform, plan, subset), "+".join(sorted(subset)) or "nothing", i)
        values[subset] = paired_outcomes(base_children, base_system, children, system, deflator)[[o.name for o in OUTCOMES]]
    per_replicate = contributions(values, names, use_shapley)
    labels = {c.name: c.label for c in plan.components}
    labels[RESIDUAL] = "The reform's route with every component off"
    labels[TOTAL] = "The whole reform"
    manifest = {
        "kind": "decomposition", "seed": root_seed, "replicates": replicates, "shapley": use_shapley,
        "sub_runs": len(subsets), "hold": list(hold),
        "baseline": {"scenario": baseline.name, "config_sha256": config_hash(baseline)},
        "reform": {"scenario": reform.name, "config_sha256": config_hash(reform)},
        "components": [{"name": c.name, "label": c.label, "when_off": c.off,
                        "when_on": {k: plan.on[k] for k in c.off}} for c in plan.components],
    }
    return {"table": summarise_contributions(per_replicate, labels), "per_replicate": per_replicate, "plan": plan,
            "shapley": use_shapley, "subsets": len(subsets), "manifest": manifest}


def write_decomposition(out_dir: Path | str, result: dict, manifest: bool = True) -> Path:
    """decomposition.csv (tidy: method, component, label, order, outcome, unit, value, lo, hi, replicates)
    and, unless `manifest` is False (inside a comparison, which has its own), manifest.json with
    the component definitions, seeds, config hashes, versions and commit."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DECOMPOSITION_CSV
    result["table"].to_csv(path, index=False)
    if manifest:
        write_manifest(out_dir, {**result["manifest"], "packages": package_versions(), "git": git_state(),
                                 "finished": now_iso(), "command": command_line()})
    return path
