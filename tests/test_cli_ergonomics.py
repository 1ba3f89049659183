"""What a researcher types: --set/--scale/--end/--seed, params, --version, --debug, config lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim import __version__
from sim.cli import app
from sim.config.overrides import PROJECT_ROOT, find_config, overrides_from

runner = CliRunner()
QUICK = ["--scale", "0.01", "--end", "2025-02", "--replicates", "1", "--workers", "1"]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"sendsim {__version__}"


def test_set_scale_and_end_change_the_run_that_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "configs/baseline.yaml", "--set", "requests.cooldown_months=9",
                                 "--set", "run.route=tiered", "--set", "population.scale=0.5", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert config["requests"]["cooldown_months"] == 9 and config["run"]["route"] == "tiered"
    assert config["population"]["scale"] == 0.01  # --scale wins over --set population.scale
    assert config["run"]["end"] == "2025-02"


@pytest.mark.parametrize("assignment, message", [
    ("population.scale", "write it as section.parameter=value"),
    ("population.scal=0.1", "did you mean `population.scale`"),
    ("populaton.scale=0.1", "did you mean `population.scale`"),
    ("population.scale=2", "allowed range (0.0, 1.0]"),
    ("population.scale=half", "population.scale"),
    ("run.end=2025-13", "run.end"),
    ("needs.type_mix=[0, 0]", "needs.type_mix"),
    ("population.scale=[[[[", "not valid YAML"),
])
def test_a_bad_set_is_refused_like_the_same_value_in_a_file(tmp_path: Path, assignment: str, message: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "configs/baseline.yaml", "--set", assignment, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_overrides_nest_dotted_paths_and_named_options_win() -> None:
    merged = overrides_from(["population.scale=0.5", "run.route=tiered"], **{"population.scale": 0.1, "run.seed": None})
    assert merged == {"population": {"scale": 0.1}, "run": {"route": "tiered"}}


def test_configs_are_found_relative_to_the_project(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config("configs/baseline.yaml") == PROJECT_ROOT / "configs" / "baseline.yaml"
    assert find_config("baseline") == PROJECT_ROOT / "configs" / "baseline.yaml"
    assert find_config("reform_white_paper.yaml") == PROJECT_ROOT / "configs" / "reform_white_paper.yaml"
    (tmp_path / "baseline.yaml").write_text("name: mine\n")
    assert find_config("baseline.yaml") == Path("baseline.yaml")  # the working directory comes first
    assert find_config("nowhere.yaml") == Path("nowhere.yaml")


def test_compare_takes_a_seed_and_warns_when_the_scenarios_are_identical(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["compare", "baseline", "configs/baseline.yaml", "--seed", "3", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "identical results in every metric" in " ".join(result.output.split())
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3


def test_compare_of_scenarios_covering_different_dates_is_a_clean_error(tmp_path: Path) -> None:
    other = tmp_path / "short.yaml"
    other.write_text(yaml.safe_dump({"name": "short", "run": {"end": "2025-03"}}))
    result = runner.invoke(app, ["compare", "baseline", str(other), "--scale", "0.01", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "different dates" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_params_filters_prints_json_and_fits_80_columns(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["params", "appeal"])
    assert result.exit_code == 0
    assert "disputes.appeal_refusal_base = 0.235" in result.output and "family appeals a refusal to assess" in result.output
    assert "needs.severity_mean" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    rows = json.loads(runner.invoke(app, ["params", "severity_mean", "--json"]).output)
    assert {row["path"] for row in rows} >= {"needs.severity_mean"}
    assert {"path", "default", "unit", "meaning", "source", "plausible", "bounds"} <= set(rows[0])
    nothing = runner.invoke(app, ["params", "no-such-thing"])
    assert nothing.exit_code == 2 and "no parameter matches" in nothing.output


def test_an_unexpected_error_is_one_message_and_debug_shows_the_traceback(tmp_path: Path, monkeypatch) -> None:
    import sim.cli

    def crash(*_args, **_kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(sim.cli, "run_scenario", crash)
    plain = runner.invoke(app, ["run", "baseline", *QUICK, "--out", str(tmp_path / "a")])
    assert plain.exit_code == 3 and "unexpected error (ZeroDivisionError: boom)" in plain.output
    assert "--debug" in plain.output and "Traceback" not in plain.output
    debug = runner.invoke(app, ["--debug", "run", "baseline", *QUICK, "--out", str(tmp_path / "b")])
    assert isinstance(debug.exception, ZeroDivisionError)
