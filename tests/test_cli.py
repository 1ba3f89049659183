"""The command line: what a researcher types, what lands on disk, and what never does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()
SMALL = {"population": {"pupils_per_council": 3000}, "run": {"end": "2026-03"}}


def write_config(directory: Path, name: str, body: dict) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **body}))
    return path


def run_cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_a_bad_config_is_refused_with_the_field_and_range_and_writes_nothing(tmp_path: Path) -> None:
    bad = write_config(tmp_path, "bad", {"requests": {"school_monthly_rate": 3.0}})
    out = tmp_path / "out"
    result = run_cli("run", str(bad), "--out", str(out), "--replicates", "1")
    assert result.exit_code == 2
    assert "requests.school_monthly_rate" in result.output and "allowed range" in result.output
    assert not out.exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_an_unknown_parameter_is_refused_by_name(tmp_path: Path) -> None:
    bad = write_config(tmp_path, "typo", {"requests": {"school_montly_rate": 0.01}})
    result = run_cli("run", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "requests.school_montly_rate" in result.output


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("cli")
    config = write_config(directory, "small", SMALL)
    out = directory / "run"
    result = run_cli("run", str(config), "--out", str(out), "--replicates", "2", "--workers", "1", "--seed", "5")
    assert result.exit_code == 0, result.output
    return out


def test_a_run_writes_manifest_tables_and_report(small_run: Path) -> None:
    names = {p.name for p in small_run.iterdir()}
    assert {"manifest.json", "metrics.parquet", "system.parquet", "children.parquet", "summary.md"} <= names
    manifest = json.loads((small_run / "manifest.json").read_text())
    for key in ("config", "config_sha256", "seed", "replicate_seeds", "packages", "git", "started", "finished", "command"):
        assert key in manifest
    assert manifest["seed"] == 5 and manifest["replicates"] == 2
    assert {"commit", "dirty"} <= set(manifest["git"])
    metrics = pd.read_parquet(small_run / "metrics.parquet")
    assert list(metrics.columns) == ["replicate", "date", "metric", "by", "group", "value"]
    assert set(metrics["replicate"]) == {0, 1}
    assert {"all", "fsm", "income_quintile"} <= set(metrics["by"])


def test_same_config_and_seed_give_byte_identical_metrics(small_run: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, "small", SMALL)
    again = tmp_path / "again"
    result = run_cli("run", str(config), "--out", str(again), "--replicates", "2", "--workers", "2", "--seed", "5")
    assert result.exit_code == 0, result.output
    for table in ("metrics.parquet", "system.parquet", "children.parquet"):
        assert (again / table).read_bytes() == (small_run / table).read_bytes(), table


def test_a_failed_run_leaves_earlier_results_untouched(small_run: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    import sim.cli

    earlier = tmp_path / "earlier"
    shutil.copytree(small_run, earlier)
    before = {p.name: p.read_bytes() for p in earlier.iterdir() if p.is_file()}

    def explode(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sim.cli, "_write_report", explode)
    config = write_config(tmp_path, "small", SMALL)
    result = runner.invoke(app, ["run", str(config), "--out", str(earlier), "--replicates", "1", "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 2 and "No space left on device" in result.output and "Traceback" not in result.output
    after = {p.name: p.read_bytes() for p in earlier.iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".earlier")]


def test_a_foreign_directory_is_not_replaced(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    config = write_config(tmp_path, "small", SMALL)
    result = runner.invoke(app, ["run", str(config), "--out", str(foreign), "--replicates", "1", "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 2 and "refusing to touch it" in result.output
    assert (foreign / "thesis.docx").read_text() == "precious"


def test_validate_json_lists_every_target_with_the_required_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path, "small", {"population": {"pupils_per_council": 6000}})
    result = run_cli("validate", str(config), "--replicates", "1", "--workers", "1", "--json")
    assert result.exit_code == 0
    records = json.loads(result.stdout[result.stdout.index("["):])
    assert len(records) >= 30
    for record in records:
        assert set(record) == {"id", "quantity", "published", "model", "model_lo", "model_hi", "tolerance", "ok"}
