"""The dashboard's levers: which parameters a reader can turn, each described by its own metadata.

Why: a widget must say what a number means, in what unit, and what range the evidence or our
assumptions make plausible — exactly what `sim/config/schema.py` already records for every
parameter. So a lever here names only a parameter path and a short title; its unit, meaning,
source, plausible range, hard bounds and widget kind are read from the schema, and cannot drift
from `docs/PARAMETERS.md` or `sendsim params`.

The levers chosen are the reform's unknowns that the comparison is most sensitive to: the
specialist package thresholds (unpublished), Experts at Hand delivery (workforce), educational
psychologist time (the binding constraint on statutory assessments), the transitional
protections and the switch date, and how much family resources still drive requests under the
tiered route. They change the reform scenario only; the baseline stays as its file says.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sim.config.params import parameter_table
from sim.config.schema import ScenarioConfig


@dataclass(frozen=True)
class Lever:
    """One widget: a parameter path, a short title and the group it is shown in."""

    path: str
    title: str
    group: str

    @property
    def spec(self) -> dict[str, Any]:
        return parameter_spec(self.path)

    @property
    def kind(self) -> str:
        """bool, int, float or month (YYYY-MM text): decides the widget."""
        return self.spec["kind"]

    @property
    def css_class(self) -> str:
        """A stable handle for the browser test and for styling: `lever-<section>-<name>`."""
        return "lever-" + self.path.replace(".", "-").replace("_", "-")

    def label(self) -> str:
        unit = self.spec["unit"]
        return f"{self.title} ({unit})" if unit and self.kind != "bool" else self.title

    def hint(self) -> str:
        """Meaning, plausible range and source, as shown under the widget."""
        spec = self.spec
        parts = [spec["meaning"]]
        if spec["plausible"]:
            lo, hi = spec["plausible"]
            parts.append(f"plausible {_number(lo)} to {_number(hi)}")
        lo, hi = spec["bounds"]
        if lo is not None or hi is not None:
            parts.append(f"allowed {_number(lo) if lo is not None else '-inf'} to {_number(hi) if hi is not None else 'inf'}")
        parts.append(f"source: {spec['source']}")
        return "; ".join(parts)


LEVERS: tuple[Lever, ...] = (
    Lever("reform.targeted_plus_threshold", "Targeted Plus threshold", "Specialist package thresholds"),
    Lever("reform.inclusion_base_package_threshold", "Inclusion-base package threshold", "Specialist package thresholds"),
    Lever("reform.special_school_package_threshold", "Special-school package threshold", "Specialist package thresholds"),
    Lever("reform.experts_capacity_multiplier", "Experts at Hand capacity", "Workforce"),
    Lever("assessment.ep_hours_per_month_per_1000_pupils", "Educational psychologist time", "Workforce"),
    Lever("transition.legal_switch", "Switch date", "Protections and timing"),
    Lever("transition.protect_special_school_pupils", "Protect special-school pupils", "Protections and timing"),
    Lever("transition.protect_older_pupils", "Protect secondary pupils to 16", "Protections and timing"),
    Lever("reform.family_pressure_strength", "Family-resource strength", "Families"),
)
LEVER_BY_PATH = {lever.path: lever for lever in LEVERS}


@cache
def _rows() -> dict[str, dict[str, Any]]:
    return {row["path"]: row for row in parameter_table(ScenarioConfig)}


def parameter_spec(path: str) -> dict[str, Any]:
    """Metadata of a dotted parameter path, with the widget kind derived from its type and unit."""
    try:
        row = dict(_rows()[path])
    except KeyError:
        raise KeyError(f"{path!r} is not a parameter of the scenario schema (see docs/PARAMETERS.md)") from None
    default = row["default"]
    if isinstance(default, bool):
        row["kind"] = "bool"
    elif isinstance(default, int):
        row["kind"] = "int"
    elif isinstance(default, float):
        row["kind"] = "float"
    elif row["unit"] == "YYYY-MM":
        row["kind"] = "month"
    else:
        raise TypeError(f"{path} ({type(default).__name__}) cannot be a dashboard lever")
    return row


def value_at(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a (resolved) config dict."""
    current: Any = data
    for part in path.split("."):
        current = current[part]
    return current




def _number(value: float) -> str:
    return f"{value:g}"
