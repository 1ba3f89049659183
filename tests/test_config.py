"""Scenario configuration: files load, reforms read as diffs, and mistakes stop the run clearly.

A researcher's typo or out-of-range value must fail before anything runs, with a message that
names the dotted field, the value and the allowed range; every parameter carries its unit,
meaning and source, and every assumed number a plausible range for sensitivity analysis.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sim.config import ConfigError, ScenarioConfig, config_hash, load_config, validate_config
from sim.config.loader import deep_merge, read_yaml_with_extends
from sim.config.params import field_info, parameter_table

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "configs" / "baseline.yaml"
ROWS = parameter_table(ScenarioConfig)
HYPOTHESIS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


NUMERIC_BOUNDED = [r for r in ROWS if _is_number(r["default"]) and r["bounds"] != (None, None)]
KNOWN_SECTIONS = set(ScenarioConfig.model_fields)
SECTIONS = {
    name: field.annotation
    for name, field in ScenarioConfig.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}


def _lower_bound_is_strict(dotted: str) -> bool:
    """parameter_table reports `gt` and `ge` alike; read the field to tell them apart."""
    info = field_info(ScenarioConfig, tuple(dotted.split(".")))
    return any(getattr(m, "gt", None) is not None for m in info.metadata)


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _nested(dotted: str, value: object) -> dict:
    """'a.b.c', v -> {'a': {'b': {'c': v}}}"""
    data: object = value
    for part in reversed(dotted.split(".")):
        data = {part: data}
    return data  # type: ignore[return-value]


@pytest.fixture
def baseline_file(tmp_path: Path) -> Path:
    """configs/baseline.yaml if the project has one yet, else a minimal stand-in."""
    if BASELINE.is_file():
        return BASELINE
    return _write(tmp_path / "baseline.yaml", {"name": "x"})


# --- loading and `extends:` -------------------------------------------------------------------


def test_the_baseline_file_loads_and_validates(baseline_file: Path) -> None:
    config = load_config(baseline_file)
    assert isinstance(config, ScenarioConfig)
    assert config.name


def test_the_default_config_validates_and_round_trips() -> None:
    default = ScenarioConfig()
    again = validate_config(default.model_dump(mode="json"))
    assert again == default
    assert config_hash(again) == config_hash(default)


def test_a_reform_overriding_one_nested_value_keeps_the_rest_of_the_section(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", {"name": "base", "requests": {"school_monthly_rate": 0.005, "parent_monthly_rate": 0.002}})
    _write(tmp_path / "reform.yaml", {"extends": "base.yaml", "name": "reform", "requests": {"parent_monthly_rate": 0.004}})
    config = load_config(tmp_path / "reform.yaml")
    assert config.name == "reform"
    assert config.requests.parent_monthly_rate == 0.004
    assert config.requests.school_monthly_rate == 0.005  # kept from the parent
    assert config.requests.cooldown_months == ScenarioConfig().requests.cooldown_months  # schema default


def test_extends_chains_resolve_relative_to_each_file_and_the_nearest_file_wins(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "grand.yaml", {"name": "grand", "population": {"councils": 3, "scale": 0.5}, "run": {"seed": 7}})
    _write(tmp_path / "sub" / "parent.yaml", {"extends": "../grand.yaml", "name": "parent", "population": {"scale": 0.25}})
    _write(tmp_path / "sub" / "child.yaml", {"extends": "parent.yaml", "population": {"councils": 5}})
    config = load_config(tmp_path / "sub" / "child.yaml")
    assert config.name == "parent"
    assert config.population.councils == 5
    assert config.population.scale == 0.25
    assert config.run.seed == 7


def test_lists_are_replaced_not_merged(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", {"finance": {"transported_share": [0.1, 0.2, 0.3, 0.4]}})
    _write(tmp_path / "child.yaml", {"extends": "base.yaml", "finance": {"transported_share": [0.0, 0.0, 0.5, 0.9]}})
    assert load_config(tmp_path / "child.yaml").finance.transported_share == [0.0, 0.0, 0.5, 0.9]


def test_deep_merge_does_not_modify_its_inputs() -> None:
    base = {"a": {"b": 1, "c": 2}, "d": [1]}
    override = {"a": {"b": 10}, "d": [2]}
    merged = deep_merge(base, override)
    assert merged == {"a": {"b": 10, "c": 2}, "d": [2]}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1]}
    assert override == {"a": {"b": 10}, "d": [2]}


def test_overrides_passed_to_load_config_are_merged_last(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", {"population": {"councils": 2, "scale": 0.5}})
    config = load_config(tmp_path / "base.yaml", overrides={"population": {"scale": 0.1}})
    assert (config.population.councils, config.population.scale) == (2, 0.1)


def test_an_extends_cycle_is_reported_with_the_chain(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    _write(tmp_path / "b.yaml", {"extends": "c.yaml"})
    _write(tmp_path / "c.yaml", {"extends": "a.yaml"})
    with pytest.raises(ConfigError, match="cycle") as info:
        load_config(tmp_path / "a.yaml")
    assert "a.yaml -> b.yaml -> c.yaml -> a.yaml" in str(info.value)


def test_a_file_extending_itself_is_a_cycle(tmp_path: Path) -> None:
    _write(tmp_path / "self.yaml", {"extends": "self.yaml"})
    with pytest.raises(ConfigError, match="cycle"):
        read_yaml_with_extends(tmp_path / "self.yaml")


def test_a_missing_parent_file_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "child.yaml", {"extends": "nowhere.yaml"})
    with pytest.raises(ConfigError, match="not found.*nowhere.yaml"):
        load_config(tmp_path / "child.yaml")


@pytest.mark.parametrize("text, problem", [("- a\n- b\n", "top level must be a mapping"), ("a: [1, 2\n", "not valid YAML"), ("extends: 3\n", "must be a file name")])
def test_malformed_files_are_rejected_with_the_reason(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "false\n", "0\n", "[]\n", "{}\n", "~\n"])
def test_an_empty_or_falsy_file_is_refused_not_taken_as_all_defaults(tmp_path: Path, text: str) -> None:
    """An empty file is almost always a mistake (a wrong path, an unsaved editor buffer); a full
    default run started from it would look like a result of the file the user meant."""
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="empty|must be a mapping"):
        load_config(path)


def test_a_minimal_file_still_means_defaults_for_everything_it_does_not_set(tmp_path: Path) -> None:
    path = tmp_path / "named.yaml"
    path.write_text("name: baseline\n")
    assert load_config(path) == ScenarioConfig()


# --- unknown keys and out-of-range values -----------------------------------------------------


def test_a_misspelt_parameter_is_rejected_naming_the_dotted_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "typo.yaml", {"requests": {"school_montly_rate": 0.01}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "`requests.school_montly_rate`" in message
    assert "not a known parameter" in message
    assert str(path) in message


def test_an_out_of_range_value_is_rejected_naming_field_value_and_allowed_range(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.yaml", {"requests": {"school_monthly_rate": 1.5}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "requests.school_monthly_rate" in message
    assert "1.5" in message
    assert "allowed range [0.0, 1.0]" in message


def test_every_problem_in_a_file_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({"population": {"councils": 0, "fsm_share": 2.0}, "needs": {"bogus": 1}})
    message = str(info.value)
    assert "3 problem(s)" in message
    for dotted in ("population.councils", "population.fsm_share", "needs.bogus"):
        assert dotted in message


def test_run_dates_must_be_year_months_in_order() -> None:
    with pytest.raises(ConfigError, match="run.start"):
        validate_config({"run": {"start": "2025-02"}})
    with pytest.raises(ConfigError, match="YYYY-MM"):
        validate_config({"run": {"end": "2030/01"}})
    with pytest.raises(ConfigError, match="must be after"):
        validate_config({"run": {"start": "2025-01", "end": "2024-12"}})


def test_per_need_type_lists_must_have_one_value_per_type() -> None:
    with pytest.raises(ConfigError, match="needs.type_mix"):
        validate_config({"needs": {"type_mix": [1.0, 2.0]}})


def test_values_are_checked_on_assignment_too() -> None:
    config = ScenarioConfig()
    with pytest.raises(ValueError, match="school_monthly_rate"):
        config.requests.school_monthly_rate = -0.1


def _outside(row: dict, data: st.DataObject) -> object:
    """A value just or far outside the hard bounds of a parameter, of the parameter's type."""
    lo, hi = row["bounds"]
    integer = isinstance(row["default"], int)
    sides = [s for s, b in (("below", lo), ("above", hi)) if b is not None]
    side = data.draw(st.sampled_from(sides))
    if integer:
        step = data.draw(st.integers(min_value=1, max_value=10**6))
        return int(lo) - step if side == "below" else int(hi) + step
    scale = max(1.0, abs(lo if side == "below" else hi))
    step = data.draw(st.floats(min_value=1e-6 * scale, max_value=1e3 * scale, allow_nan=False))
    value = lo - step if side == "below" else hi + step
    assert not math.isclose(value, lo if side == "below" else hi)
    return value


@HYPOTHESIS
@given(data=st.data())
def test_any_bounded_parameter_outside_its_bounds_is_rejected_with_path_and_allowed_range(data: st.DataObject) -> None:
    row = data.draw(st.sampled_from(NUMERIC_BOUNDED), label="parameter")
    value = _outside(row, data)
    with pytest.raises(ConfigError) as info:
        validate_config(_nested(row["path"], value))
    message = str(info.value)
    assert f"`{row['path']}`" in message
    assert "allowed range" in message


@HYPOTHESIS
@given(data=st.data())
def test_any_bounded_parameter_at_or_inside_its_bounds_is_accepted(data: st.DataObject) -> None:
    row = data.draw(st.sampled_from(NUMERIC_BOUNDED), label="parameter")
    lo, hi = row["bounds"]
    low = row["plausible"][0] if row["plausible"] else (lo if lo is not None else row["default"])
    high = row["plausible"][1] if row["plausible"] else (hi if hi is not None else row["default"])
    strict = not row["plausible"] and _lower_bound_is_strict(row["path"])
    if isinstance(row["default"], int):
        value = data.draw(st.integers(min_value=int(low) + strict, max_value=int(high)))
    else:
        value = data.draw(st.floats(min_value=float(low), max_value=float(high), allow_nan=False, exclude_min=strict))
    dotted = row["path"]
    config = validate_config(_nested(dotted, value))
    section, name = dotted.split(".") if "." in dotted else (None, dotted)
    held = getattr(getattr(config, section), name) if section else getattr(config, name)
    assert held == value


unknown_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=24)


@HYPOTHESIS
@given(section=st.sampled_from(sorted(SECTIONS)), name=unknown_names)
def test_an_unknown_key_in_any_section_is_rejected_naming_it(section: str, name: str) -> None:
    if name in SECTIONS[section].model_fields:
        return
    with pytest.raises(ConfigError) as info:
        validate_config({section: {name: 1}})
    assert f"`{section}.{name}`" in str(info.value)
    assert "not a known parameter" in str(info.value)


@HYPOTHESIS
@given(name=unknown_names)
def test_an_unknown_top_level_key_is_rejected_naming_it(name: str) -> None:
    if name in KNOWN_SECTIONS:
        return
    with pytest.raises(ConfigError) as info:
        validate_config({name: 1})
    assert f"`{name}`" in str(info.value)


# --- parameter metadata -----------------------------------------------------------------------


def test_every_parameter_has_a_unit_a_meaning_and_a_source() -> None:
    missing = [r["path"] for r in ROWS if not (r["unit"].strip() and r["meaning"].strip() and r["source"].strip())]
    assert not missing, f"parameters without unit/meaning/source: {missing}"


def test_every_parameter_path_is_unique() -> None:
    paths = [r["path"] for r in ROWS]
    assert len(paths) == len(set(paths))


def test_every_numeric_assumption_has_a_plausible_range_inside_its_bounds() -> None:
    problems = []
    for r in ROWS:
        if not (_is_number(r["default"]) and r["source"].strip().lower().startswith("assumption")):
            continue
        if not r["plausible"]:
            problems.append(f"{r['path']}: no plausible range")
            continue
        low, high = r["plausible"]
        lo, hi = r["bounds"]
        if not low <= high:
            problems.append(f"{r['path']}: plausible range {r['plausible']} is reversed")
        if (lo is not None and low < lo) or (hi is not None and high > hi):
            problems.append(f"{r['path']}: plausible {r['plausible']} outside bounds {r['bounds']}")
    assert not problems, "\n".join(problems)


def test_every_plausible_range_contains_its_default_and_sits_inside_the_bounds() -> None:
    problems = []
    for r in ROWS:
        if not r["plausible"]:
            continue
        low, high = r["plausible"]
        lo, hi = r["bounds"]
        if not low <= r["default"] <= high:
            problems.append(f"{r['path']}: default {r['default']} outside plausible {r['plausible']}")
        if (lo is not None and low < lo) or (hi is not None and high > hi):
            problems.append(f"{r['path']}: plausible {r['plausible']} outside bounds {r['bounds']}")
    assert not problems, "\n".join(problems)


def test_every_default_lies_within_its_bounds() -> None:
    outside = []
    for r in NUMERIC_BOUNDED:
        lo, hi = r["bounds"]
        if (lo is not None and r["default"] < lo) or (hi is not None and r["default"] > hi):
            outside.append(r["path"])
    assert not outside


def test_an_assumption_without_a_plausible_range_cannot_be_declared() -> None:
    from sim.config.params import param

    with pytest.raises(ValueError, match="plausible range"):
        param(0.5, unit="probability", meaning="an unsourced guess", source="assumption")


def test_a_strict_lower_bound_rejects_the_bound_itself() -> None:
    with pytest.raises(ConfigError, match="population.scale"):
        validate_config({"population": {"scale": 0.0}})


def test_a_strict_lower_bound_is_shown_as_open_in_the_message() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({"population": {"scale": 0.0}})
    assert "allowed range (0.0, 1.0]" in str(info.value)


def test_the_parameter_and_source_docs_match_the_schema() -> None:
    """docs/PARAMETERS.md and configs/SOURCES.md are generated; a schema change must regenerate them."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "scripts" / "parameters_doc.py"), "--check"], cwd=root,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"run scripts/parameters_doc.py: {result.stdout}{result.stderr}"
