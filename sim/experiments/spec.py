"""What an experiment is: scenarios × policy levers × uncertain assumptions × replicates.

Why a schema: an experiment file in `experiments/` is the record of a study. A misspelt key or
a range that the model would reject must stop it before any run starts, with a message that
names the field and the allowed range, never after an hour of simulation.

An experiment file (YAML, paths relative to the file):

    name: reform_gap_sensitivity
    scenarios:                      # name -> {config: path} or {extends: path, <inline diff>}
      baseline: {config: ../configs/baseline.yaml}
      reform:   {extends: ../configs/baseline.yaml, run: {route: tiered}}
    levers:                         # policy choices, crossed as a grid
      reform.inclusion_base_rollout_years: [3, 5, 8]
    uncertainties:                  # assumptions sampled by the design
      reform.experts_vacancy_rate: {}             # {} or null: the plausible range in the schema
      identification.advocacy_effect: {low: 0.5, high: 1.5}
    design: {method: morris, samples: 6, levels: 4}
    replicates: 1
    seed: 20250101
    scale: 0.1                      # population.scale override
    end: "2036-08"                  # run.end override
    councils_per_block: 1
    outputs: [unmet_need_months, ehcp_share_pupils]

`task: ishigami` swaps the model for a test function (`sim.experiments.testfunctions`) whose
inputs x1, x2, x3 are given explicitly and do not refer to the scenario schema.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sim.config.loader import ConfigError, config_hash, deep_merge, nest_dotted, read_yaml_with_extends, validate_config
from sim.config.params import field_info, parameter_table
from sim.config.safe_yaml import YamlInputError, parse, read_text
from sim.config.schema import ScenarioConfig

TASKS = ("simulate", "ishigami")
METHODS = ("grid", "latin_hypercube", "morris", "sobol")
NAME_CHARS = 100  # experiment and scenario names become directory names (at most 255 bytes)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DesignSettings(_Strict):
    """How parameter points are chosen (SALib samplers for the sampled designs)."""

    method: Literal["grid", "latin_hypercube", "morris", "sobol"] = "grid"
    samples: int | None = Field(None, ge=1, description="latin: points; morris: trajectories; sobol: base N (power of 2)")
    levels: int = Field(4, ge=2, le=100, description="morris grid levels (even numbers keep the steps symmetric)")
    calc_second_order: bool = Field(False, description="sobol: also sample for second-order indices (N(2D+2) points)")


class Range(_Strict):
    """An uncertainty range; a missing end takes the plausible range from the parameter metadata."""

    low: float | None = None
    high: float | None = None


class ExperimentFile(_Strict):
    """The YAML as written (before paths are resolved against the schema)."""

    name: str = Field(..., min_length=1, max_length=NAME_CHARS, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    task: Literal["simulate", "ishigami"] = "simulate"
    scenarios: dict[str, dict[str, Any]] = Field(default_factory=dict)
    levers: dict[str, list[Any]] = Field(default_factory=dict)
    uncertainties: dict[str, Range | None] = Field(default_factory=dict)
    replicates: int = Field(1, ge=1, le=100_000)
    seed: int = Field(20250101, ge=0, le=2**63 - 1)
    design: DesignSettings = DesignSettings()
    scale: float | None = Field(None, gt=0.0, le=1.0)
    end: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    councils_per_block: int | None = Field(None, ge=1)
    outputs: list[str] | None = None

    @field_validator("scenarios")
    @classmethod
    def _scenario_names(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in value:
            if len(str(name)) > NAME_CHARS:
                raise ValueError(f"scenario name {str(name)[:20]!r}... is longer than {NAME_CHARS} characters (it names a directory)")
            if not name or any(ch in name for ch in "/\\=") or name.startswith("."):
                raise ValueError(f"scenario name {name!r} must be a plain name (no '/', '\\', '=' or leading '.')")
        return value

    @field_validator("levers")
    @classmethod
    def _non_empty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in value.items():
            if not values:
                raise ValueError(f"lever `{path}` needs at least one value")
        return value


@dataclass(frozen=True)
class Uncertainty:
    """A resolved uncertain parameter: the range sampled and whether values are whole numbers."""

    path: str
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment: every scenario resolved to a config dict, every range checked."""

    path: Path
    text: str
    name: str
    description: str
    task: str
    scenarios: dict[str, dict[str, Any]]  # resolved scenario configs (plain dicts, validated)
    scenario_sources: dict[str, str]  # where each came from (for the manifest)
    levers: dict[str, list[Any]]
    uncertainties: tuple[Uncertainty, ...]
    replicates: int
    seed: int
    design: DesignSettings
    scale: float | None
    end: str | None
    councils_per_block: int | None
    outputs: tuple[str, ...] | None

    @property
    def experiment_sha256(self) -> str:
        """sha256 of the experiment file's text: the name results are filed under."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def scenario_hashes(self) -> dict[str, str]:
        return {name: config_hash(validate_config(cfg, name)) for name, cfg in self.scenarios.items()}

    @property
    def identity(self) -> str:
        """Hash of the file text and the resolved scenario configs.

        Why both: a scenario file referenced by the experiment can change while the experiment
        text does not; task ids (and resumption) must notice that.
        """
        parts = [self.experiment_sha256, *(f"{n}={h}" for n, h in sorted(self.scenario_hashes.items()))]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    @property
    def scenario_names(self) -> list[str]:
        """Scenario names in file order (a test-function task runs as one scenario named after it)."""
        return list(self.scenarios) if self.task == "simulate" else [self.task]

    def councils(self, scenario: str) -> int:
        if self.task != "simulate":
            return 1
        return int(self.scenarios[scenario].get("population", {}).get("councils", 1))


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file; raise `ConfigError` naming the field at fault."""
    try:
        path = Path(path).resolve()
        text = read_text(path, "experiment file")
        data = parse(text, str(path))
    except (YamlInputError, OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: an experiment file is a mapping with at least `name:` and `scenarios:`, "
                          f"got {'an empty file' if not data else type(data).__name__}")
    try:
        raw = ExperimentFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None

    where = f"{path}"
    if raw.task == "simulate":
        if not raw.scenarios:
            raise ConfigError(f"{where}: `scenarios` needs at least one scenario")
        scenarios, sources = _resolve_scenarios(raw, path)
        first = next(iter(scenarios.values()))
        uncertainties = tuple(_schema_uncertainty(p, r, where) for p, r in raw.uncertainties.items())
        _check_levers(raw.levers, first, where)
    else:
        if raw.scenarios:
            raise ConfigError(f"{where}: `scenarios` must be empty for task {raw.task!r} (it does not run the model)")
        if raw.levers:
            raise ConfigError(f"{where}: `levers` are not supported for task {raw.task!r}")
        scenarios, sources = {}, {}
        uncertainties = tuple(_explicit_uncertainty(p, r, where) for p, r in raw.uncertainties.items())
    overlap = set(raw.levers) & set(raw.uncertainties)
    if overlap:
        raise ConfigError(f"{where}: {sorted(overlap)} appear both as levers and as uncertainties")
    _check_design(raw, uncertainties, where)
    return ExperimentSpec(
        path=path, text=text, name=raw.name, description=raw.description, task=raw.task,
        scenarios=scenarios, scenario_sources=sources, levers=dict(raw.levers), uncertainties=uncertainties,
        replicates=raw.replicates, seed=raw.seed, design=raw.design, scale=raw.scale, end=raw.end,
        councils_per_block=raw.councils_per_block, outputs=tuple(raw.outputs) if raw.outputs else None,
    )


# ---- scenarios ----------------------------------------------------------------------------
def _resolve_scenarios(raw: ExperimentFile, path: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """Each scenario becomes a full, validated config dict with the scale/end overrides applied."""
    scenarios, sources = {}, {}
    for name, entry in raw.scenarios.items():
        where = f"{path}: scenarios.{name}"
        entry = dict(entry or {})
        if ("config" in entry) == ("extends" in entry):
            raise ConfigError(f"{where}: give either `config: <file>` or `extends: <file>` plus an inline diff")
        if "config" in entry:
            extra = sorted(set(entry) - {"config"})
            if extra:
                raise ConfigError(f"{where}: with `config:` no other keys are allowed (got {extra}); use `extends:` for a diff")
            source = path.parent / str(entry["config"])
            data = _read_scenario(source, where)
        else:
            source = path.parent / str(entry.pop("extends"))
            data = deep_merge(_read_scenario(source, where), entry)
            if "name" not in entry:  # an inline diff is a new scenario: it takes the experiment's name for it
                data["name"] = name
        overrides: dict[str, Any] = {}
        if raw.scale is not None:
            overrides["population"] = {"scale": raw.scale}
        if raw.end is not None:
            overrides["run"] = {"end": raw.end}
        data = deep_merge(data, overrides)
        config = validate_config(data, origin=where)
        scenarios[name] = config.model_dump(mode="json")
        sources[name] = str(source.resolve())
    return scenarios, sources


def _read_scenario(source: Path, where: str) -> dict[str, Any]:
    try:
        return read_yaml_with_extends(source)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_levers(levers: dict[str, list[Any]], base: dict[str, Any], where: str) -> None:
    """Every lever value must make a valid scenario on its own (checked against the first scenario)."""
    for path, values in levers.items():
        _schema_row(path, f"{where}: levers.{path}")
        for value in values:
            validate_config(deep_merge(base, nested(path, value)), origin=f"{where}: levers.{path} = {value!r}")


# ---- uncertainties --------------------------------------------------------------------------
def _schema_row(path: str, where: str) -> dict[str, Any]:
    rows = {row["path"]: row for row in parameter_table(ScenarioConfig)}
    if path not in rows:
        section = path.split(".")[0]
        known = sorted(p for p in rows if p.startswith(section + "."))
        hint = f"; known parameters in `{section}`: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}" if known else \
            "; paths look like `section.parameter` (see `sendsim params`)"
        raise ConfigError(f"{where}: `{path}` is not a parameter of the scenario schema{hint}")
    return rows[path]


def _schema_uncertainty(path: str, given: Range | None, where: str) -> Uncertainty:
    """Resolve a range against the schema: numeric, inside the hard bounds, plausible by default."""
    where = f"{where}: uncertainties.{path}"
    row = _schema_row(path, where)
    default = row["default"]
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise ConfigError(f"{where}: `{path}` is not numeric (default {default!r}); vary it as a lever instead")
    info = field_info(ScenarioConfig, tuple(path.split(".")))
    strict_low = any(getattr(m, "gt", None) is not None for m in info.metadata)
    lo_bound, hi_bound = row["bounds"]
    plausible = row["plausible"] or ([lo_bound, hi_bound] if lo_bound is not None and hi_bound is not None else None)
    given = given or Range()
    if (given.low is None or given.high is None) and plausible is None:
        raise ConfigError(f"{where}: `{path}` has no plausible range in the metadata; give `low` and `high`")
    low = float(plausible[0] if given.low is None else given.low)
    high = float(plausible[1] if given.high is None else given.high)
    allowed = f"{'(' if strict_low else '['}{'-inf' if lo_bound is None else lo_bound}, {'inf' if hi_bound is None else hi_bound}]"
    unit = f" {row['unit']}" if row["unit"] else ""
    if not low < high:
        raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
    below = lo_bound is not None and (low < lo_bound or (strict_low and low <= lo_bound))
    above = hi_bound is not None and high > hi_bound
    if below or above:
        raise ConfigError(f"{where}: range [{low}, {high}] lies outside the allowed range {allowed}{unit} of `{path}`")
    return Uncertainty(path, low, high, integer=isinstance(default, int))


def _explicit_uncertainty(path: str, given: Range | None, where: str) -> Uncertainty:
    where = f"{where}: uncertainties.{path}"
    if given is None or given.low is None or given.high is None:
        raise ConfigError(f"{where}: test-function inputs need explicit `low` and `high`")
    if not given.low < given.high:
        raise ConfigError(f"{where}: low ({given.low}) must be below high ({given.high})")
    return Uncertainty(path, float(given.low), float(given.high))


def _check_design(raw: ExperimentFile, uncertainties: tuple[Uncertainty, ...], where: str) -> None:
    design = raw.design
    if design.method == "grid":
        if uncertainties:
            raise ConfigError(f"{where}: design.method 'grid' crosses `levers` only; `uncertainties` "
                              f"({', '.join(u.path for u in uncertainties)}) need a sampling design "
                              f"(latin_hypercube, morris or sobol) — or list their values as levers")
        if design.samples is not None:
            raise ConfigError(f"{where}: design.samples has no meaning for a grid (levers are crossed, uncertainties stay at the scenario's values)")
        return
    if not uncertainties:
        raise ConfigError(f"{where}: design.method {design.method!r} samples uncertainties, but none are given")
    if design.samples is None:
        raise ConfigError(f"{where}: design.samples is required for method {design.method!r}")
    if design.method == "sobol" and design.samples & (design.samples - 1):
        lower = 2 ** int(math.log2(design.samples))
        raise ConfigError(f"{where}: design.samples = {design.samples}: Sobol' sampling needs a power of 2 (e.g. {lower} or {lower * 2})")


# ---- helpers ----------------------------------------------------------------------------------
def nested(path: str, value: Any) -> dict[str, Any]:
    """`a.b.c`, v -> {"a": {"b": {"c": v}}} (to deep-merge a design value into a config)."""
    return nest_dotted({path: value})


def _explain(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid experiment file ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        dotted = ".".join(str(p) for p in error["loc"]) or "<top level>"
        if error["type"] == "extra_forbidden":
            known = ", ".join(_known_keys(error["loc"]))
            lines.append(f"  - `{dotted}` is not a known key (known: {known})")
        else:
            value = repr(error.get("input"))
            lines.append(f"  - `{dotted}` = {value[:60]}: {error['msg']}")
    return "\n".join(lines)


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = ExperimentFile
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            break
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return list(ExperimentFile.model_fields)
