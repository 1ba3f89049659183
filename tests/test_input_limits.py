"""Hostile or broken scenario and experiment files are refused at once, naming the file and field.

Each case here once ended in a hang, a memory blow-up, a traceback or a silently wrong run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.config import ConfigError, ScenarioConfig, load_config, validate_config
from sim.config.safe_yaml import MAX_BYTES, MAX_DEPTH
from sim.experiments.spec import load_experiment

BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
) + "\n"


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_a_billion_laughs_file_is_refused_quickly(tmp_path: Path) -> None:
    path = _write(tmp_path / "bomb.yaml", BILLION_LAUGHS)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="bomb.yaml.*(aliases|expands)"):
        load_config(path)
    assert time.perf_counter() - started < 5


def test_a_few_honest_aliases_still_work(tmp_path: Path) -> None:
    path = _write(tmp_path / "anchors.yaml", "name: x\nneeds:\n  type_severity: &sev [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
                                              "  type_mix: *sev\n")
    assert load_config(path).needs.type_mix == [1.0] * 12


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "a:\n" + "".join(" " * (i + 1) + "a:\n" for i in range(300))])
def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path / "deep.yaml", text)
    with pytest.raises(ConfigError, match=f"deep.yaml.*(nested more than {MAX_DEPTH}|not valid YAML)"):
        load_config(path)


@pytest.mark.parametrize("payload", ["name: café\n".encode("latin-1"), "name: x\n".encode("utf-16"), bytes(range(256))])
def test_a_file_that_is_not_utf8_is_refused_by_name(tmp_path: Path, payload: bytes) -> None:
    path = _write(tmp_path / "latin.yaml", payload)
    with pytest.raises(ConfigError, match="latin.yaml.*UTF-8|latin.yaml.*NUL"):
        load_config(path)


def test_a_utf8_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.yaml", "\ufeffname: bom\n".encode("utf-8"))
    assert load_config(path).name == "bom"


def test_an_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.yaml", "# " + "x" * (MAX_BYTES + 10) + "\nname: big\n")
    with pytest.raises(ConfigError, match="big.yaml: larger than"):
        load_config(path)


def test_extends_does_not_echo_a_file_that_is_not_a_scenario(tmp_path: Path) -> None:
    secret = _write(tmp_path / "secrets.yaml", "root_password: hunter2\napi_token: abc123\n")
    plain = _write(tmp_path / "shadow", "root:$y$j9T$abc:19000:0:99999:7:::\n")
    for target in (secret, plain, Path("/etc/shadow")):
        child = _write(tmp_path / "child.yaml", f"extends: {target}\n")
        with pytest.raises(ConfigError) as info:
            load_config(child)
        message = str(info.value)
        assert message.startswith(str(child.resolve())), message  # names the file holding the bad extends
        for leaked in ("hunter2", "abc123", "root_password", "19000"):
            assert leaked not in message


def test_a_long_extends_chain_is_refused_by_name(tmp_path: Path) -> None:
    for i in range(40):
        _write(tmp_path / f"c{i}.yaml", f"extends: c{i + 1}.yaml\n" if i < 39 else "name: end\n")
    with pytest.raises(ConfigError, match="chain is longer"):
        load_config(tmp_path / "c0.yaml")


@pytest.mark.parametrize("field, value", [
    ("reform.funding_start", "2029-13"), ("reform.experts_target_date", "next year"),
    ("reform.inclusion_base_rollout_start", "2026/09"), ("transition.legal_switch", "2029-9"),
    ("transition.anticipation_from", "2026/03"), ("transition.anticipation_to", 2029),
    ("transition.legacy_review_from", ""), ("transition.no_change_before", "3030-09"),
    ("finance.statutory_override_until", "March 2028"), ("run.end", "9999-12"),
])
def test_every_date_field_is_format_checked(field: str, value: object) -> None:
    section, name = field.split(".")
    with pytest.raises(ConfigError, match=f"`{field}`"):
        validate_config({section: {name: value}})


@pytest.mark.parametrize("section, name, value", [
    ("needs", "deprivation_type_tilt", [float("nan")] + [0.0] * 11),
    ("needs", "type_mix", [float("inf")] + [0.1] * 11),
    ("population", "fsm_share", float("nan")),
    ("finance", "cost_inflation", float("-inf")),
])
def test_nan_and_infinity_are_refused_everywhere(section: str, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"`{section}.{name}"):
        validate_config({section: {name: value}})


@pytest.mark.parametrize("section, name, value", [
    ("needs", "type_mix", [0.0] * 12),
    ("census", "ehcp_age_profile", [0.0] * 14),
    ("census", "sen_support_age_profile", [0.0] * 12 + [1.0, 1.0]),
])
def test_all_zero_mixes_are_refused(section: str, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"`{section}.{name}`.*positive"):
        validate_config({section: {name: value}})


def test_a_misspelt_key_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="`needs.severity_mean_x` is not a known parameter; did you mean `severity_mean`"):
        validate_config({"needs": {"severity_mean_x": 1.0}})
    with pytest.raises(ConfigError, match="did you mean `population`"):
        validate_config({"populaton": {"scale": 0.5}})
    with pytest.raises(ConfigError, match="did you mean `population.scale`"):
        validate_config({"scale": 0.5})


@pytest.mark.parametrize("overrides", [
    {"population": {"advocacy_mean_lowest_quintile": 0.0}},
    {"population": {"advocacy_mean_highest_quintile": 1.0, "trust_in_mainstream_mean": 1.0}},
    {"sen_support": {"expertise_mean": 0.0}},
    {"sen_support": {"expertise_mean": 1.0}, "population": {"trust_in_mainstream_mean": 0.0}},
])
def test_boundary_means_of_beta_draws_build_a_population(overrides: dict) -> None:
    """A mean of exactly 0 or 1 is the point mass there, not a crash in the beta draws."""
    from sim.model import SendModel

    data = {"run": {"end": "2025-02"}, "population": {"scale": 0.02}}
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    model = SendModel(validate_config(data), seed=1)
    advocacy = np.asarray(model.children.advocacy)
    assert np.isfinite(advocacy).all() and ((advocacy >= 0) & (advocacy <= 1)).all()
    if overrides.get("population", {}).get("advocacy_mean_lowest_quintile") == 0.0:
        assert (advocacy[np.asarray(model.children.income_quintile) == 1] == 0).all()


def _experiment(tmp_path: Path, body: dict) -> Path:
    config = tmp_path / "scenario.yaml"
    config.write_text(yaml.safe_dump({"name": "s", "run": {"end": "2025-03"}, "population": {"scale": 0.02}}))
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "e", "scenarios": {"s": {"config": "scenario.yaml"}}, **body}))
    return path


def test_uncertainties_under_a_grid_design_are_refused_at_validation(tmp_path: Path) -> None:
    path = _experiment(tmp_path, {"uncertainties": {"needs.severity_mean": {}}, "design": {"method": "grid"}})
    with pytest.raises(ConfigError, match="grid.*uncertainties.*needs.severity_mean"):
        load_experiment(path)


@pytest.mark.parametrize("text", ["", "false\n", "0\n", "[]\n", "\xff\xfe".encode("latin-1").decode("latin-1")])
def test_an_empty_or_broken_experiment_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "exp.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match="exp.yaml"):
        load_experiment(path)


def test_the_shipped_configs_still_load() -> None:
    for path in sorted(Path("configs").glob("*.yaml")):
        assert isinstance(load_config(path), ScenarioConfig)
