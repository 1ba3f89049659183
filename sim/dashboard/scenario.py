"""What is on screen, as two validated configs and as YAML a researcher can run.

Why: a student's experiment should become a researcher's scenario without retyping. The screen
state (`Selection`) resolves through the same loader as `sendsim compare` — `extends:` chains,
deep-merged diffs, pydantic validation with the message naming the field, the value and the
allowed range — so a bad lever gets the CLI's error, and the YAML offered for download is a diff
(`extends:` the reform file) that loads to the very config that ran (same sha256).

Pairing needs the two runs to share their population, dates and seed, so those settings (the
council, scale, end month, seed) go into both configs; the levers go into the reform only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

import sim
from sim.config import ConfigError, ScenarioConfig, validate_config
from sim.config.council_table import load_council_table
from sim.config.loader import deep_merge, nest_dotted, read_yaml_with_extends
from sim.config.schema import PopulationSection
from sim.dashboard.levers import LEVER_BY_PATH, value_at

TYPICAL = "Typical council"
ENGLAND = "England (all councils)"
REGION_PREFIX = "Region: "  # a choice "Region: North East" simulates every council of that region
COUNCIL_TABLE = "england"


def default_config_dir() -> Path:
    """`configs/` of the sendsim checkout this package belongs to."""
    return Path(sim.__file__).resolve().parents[1] / "configs"


def scenario_files(config_dir: Path) -> list[str]:
    """Scenario YAML files a reader can pick (file names, sorted)."""
    return sorted(p.name for p in Path(config_dir).glob("*.yaml"))


@cache
def council_names() -> tuple[str, ...]:
    """England's councils in the order of the packaged council table (row i = first_council i)."""
    return tuple(load_council_table()["la_name"].astype(str))


@cache
def region_names() -> tuple[str, ...]:
    """England's regions (sorted), each a choice that simulates all of its councils."""
    return tuple(sorted(load_council_table()["region_name"].astype(str).unique()))


def region_of(choice: str) -> str | None:
    """The region a council choice stands for, or None when it is not a region."""
    return choice[len(REGION_PREFIX):] if choice.startswith(REGION_PREFIX) else None


def council_choices() -> list[str]:
    return [TYPICAL, ENGLAND, *(REGION_PREFIX + region for region in region_names()), *sorted(council_names())]



@dataclass(frozen=True)
class Selection:
    """Everything the dashboard's controls decide. `levers` holds only values changed on screen."""

    baseline: str = "baseline.yaml"
    reform: str = "reform_white_paper.yaml"
    council: str = TYPICAL
    scale: float = 0.05
    end: str = "2036-08"
    seed: int = 20250101
    replicates: int = 2
    levers: dict[str, Any] = field(default_factory=dict)

    def with_lever(self, path: str, value: Any) -> Selection:
        return _replace(self, levers={**self.levers, path: value})


def _replace(selection: Selection, **changes) -> Selection:
    return replace(selection, **changes)


def population_overrides(selection: Selection) -> dict[str, Any]:
    """The population section both runs share: the chosen council(s) and the scale."""
    if selection.council == TYPICAL:
        return {"scale": selection.scale}
    if selection.council == ENGLAND:
        return {"council_table": COUNCIL_TABLE, "first_council": 0, "councils": len(council_names()),
                "scale": selection.scale}
    region = region_of(selection.council)
    if region is not None:
        if region not in region_names():
            raise ConfigError(f"region {region!r} is not in the council table (choose one of {list(region_names())})")
        return {"council_table": COUNCIL_TABLE, "region": region, "first_council": 0, "councils": "all",
                "scale": selection.scale}
    names = council_names()
    if selection.council not in names:
        raise ConfigError(f"council {selection.council!r} is not in the council table (choose one of its names)")
    return {"council_table": COUNCIL_TABLE, "first_council": names.index(selection.council), "councils": 1,
            "scale": selection.scale}


def shared_overrides(selection: Selection) -> dict[str, Any]:
    """Settings both runs must share to be paired: population, last month and root seed."""
    return {"population": population_overrides(selection), "run": {"end": selection.end, "seed": selection.seed}}


def changed_levers(selection: Selection, file_data: dict[str, Any]) -> dict[str, Any]:
    """The levers whose screen value differs from the reform file's: a lever set back is no change,
    so the config (and its cache entry) is the file's own again."""
    resolved = validate_config(file_data, origin=selection.reform).model_dump(mode="json")
    changed = {}
    for path, value in selection.levers.items():
        try:
            same = value_at(resolved, path) == value
        except KeyError:
            same = False
        if not same:
            changed[path] = value
    return changed


def reform_name(selection: Selection, file_data: dict[str, Any]) -> str:
    base = str(file_data.get("name", Path(selection.reform).stem))
    return f"{base}_custom" if changed_levers(selection, file_data) else base


def _check_levers(levers: dict[str, Any]) -> None:
    unknown = sorted(set(levers) - set(LEVER_BY_PATH))
    if unknown:
        raise ConfigError(f"unknown dashboard lever(s) {unknown}; known: {sorted(LEVER_BY_PATH)}")


def resolve(selection: Selection, config_dir: Path | None = None) -> tuple[ScenarioConfig, ScenarioConfig]:
    """(baseline, reform) configs for the selection; raises ConfigError with the loader's message."""
    config_dir = Path(config_dir or default_config_dir())
    _check_levers(selection.levers)
    shared = shared_overrides(selection)
    base_data = deep_merge(read_yaml_with_extends(config_dir / selection.baseline), shared)
    baseline = validate_config(base_data, origin=f"baseline ({selection.baseline} with the dashboard's settings)")
    reform_file = read_yaml_with_extends(config_dir / selection.reform)
    reform_data = deep_merge(deep_merge(reform_file, shared), nest_dotted(changed_levers(selection, reform_file)))
    reform_data["name"] = reform_name(selection, reform_file)
    reform = validate_config(reform_data, origin=f"reform ({selection.reform} with the dashboard's levers)")
    return baseline, reform


def lever_values(selection: Selection, config_dir: Path | None = None) -> dict[str, Any]:
    """Current value of every lever: the screen's value if changed, else the reform file's."""
    config_dir = Path(config_dir or default_config_dir())
    data = ScenarioConfig.model_validate(read_yaml_with_extends(config_dir / selection.reform)).model_dump(mode="json")
    return {path: selection.levers.get(path, value_at(data, path)) for path in LEVER_BY_PATH}


def baseline_yaml(selection: Selection) -> str:
    """The baseline as run, as a diff of its file (the shared population, end month and seed)."""
    header = (f"# Baseline from the sendsim dashboard: {selection.baseline} with the settings shared by both runs.\n"
              f"# Save next to {selection.baseline} (in configs/) as e.g. dashboard_baseline.yaml.\n")
    body = {"extends": selection.baseline, **shared_overrides(selection)}
    return header + yaml.safe_dump(body, sort_keys=False)


def reform_yaml(selection: Selection, config_dir: Path | None = None) -> str:
    """The reform as run, as a diff (`extends:` its file): shared settings plus the levers changed."""
    config_dir = Path(config_dir or default_config_dir())
    reform_file = read_yaml_with_extends(config_dir / selection.reform)
    body: dict[str, Any] = {"extends": selection.reform, "name": reform_name(selection, reform_file)}
    body = deep_merge(body, shared_overrides(selection))
    body = deep_merge(body, nest_dotted(changed_levers(selection, reform_file)))
    header = (f"# Reform from the sendsim dashboard: {selection.reform} with the levers changed on screen.\n"
              f"# Save next to {selection.reform} (in configs/) as e.g. dashboard_reform.yaml, then:\n"
              "#   sendsim compare configs/dashboard_baseline.yaml configs/dashboard_reform.yaml\n")
    return header + yaml.safe_dump(body, sort_keys=False)


def pupils_estimate(selection: Selection) -> int:
    """Pupils simulated per replicate and run (to warn before a slow national run)."""
    if selection.council == TYPICAL:
        return int(PopulationSection().pupils_per_council * selection.scale)

    table = load_council_table()
    pupils = table["pupils_est"].astype(float)
    if selection.council == ENGLAND:
        return int(pupils.sum() * selection.scale)
    region = region_of(selection.council)
    if region is not None:
        return int(pupils[table["region_name"] == region].sum() * selection.scale)
    return int(pupils[table["la_name"] == selection.council].iloc[0] * selection.scale)
