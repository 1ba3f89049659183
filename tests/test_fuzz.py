"""Adversarial inputs through the real command line: exit 0 or 2, never a traceback or a hang,
nothing written on error, no user file lost.

Two sources of cases: the committed corpus in tests/data/adversarial/ (configs and experiment
files that once crashed, hung or wrote where they should not), and a hypothesis mutator over the
shipped configs (boundary, out-of-range, NaN, wrong-type and structural mutations). Every case
runs in-process through `sendsim` with one replicate, one worker, a tiny population and a short
horizon (unless the mutation changes those), under a time limit.

The default suite runs the corpus and a small sample of mutations; `make test-all` runs the slow
test with FUZZ_EXAMPLES (default 1,000) mutated configs and prints the counts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sim.cli import app
from sim.config.params import parameter_table
from sim.config.schema import ScenarioConfig

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "adversarial"
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
TIME_LIMIT_SECONDS = 120
QUICK = {"run": {"end": "2025-03"}, "population": {"scale": 0.01}}
ROWS = [row for row in parameter_table(ScenarioConfig)]
DATE_PATHS = [row["path"] for row in ROWS if row["unit"] == "YYYY-MM"]
COUNTS: Counter = Counter()
runner = CliRunner()


class CaseTimeout(BaseException):
    """Raised by the alarm when a case runs past the time limit (a hang)."""


def _alarm(_signum, _frame):
    raise CaseTimeout(f"case exceeded {TIME_LIMIT_SECONDS} s")


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def run_case(workdir: Path, args: list[str], kind: str) -> str:
    """Run `sendsim <args>` in `workdir` and check the promises; return the outcome's name."""
    (workdir / "keep.txt").write_text("a user's file")
    before = _snapshot(workdir)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT_SECONDS)
    cwd = Path.cwd()
    try:
        os.chdir(workdir)
        result = runner.invoke(app, args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
    text = result.output + (str(result.exception) if result.exception and not isinstance(result.exception, SystemExit) else "")
    if "CaseTimeout" in text or isinstance(result.exception, CaseTimeout):
        outcome = "hang"
    elif result.exit_code not in (0, 2) or "Traceback" in text or "unexpected error" in text:
        outcome = "traceback"
    elif result.exit_code == 2:
        outcome = "clean error"
        after = _snapshot(workdir)
        if after != before:
            outcome = "files written on error"
    else:
        outcome = "valid run"
        problem = _insane_outputs(workdir / "out", kind)
        if problem:
            outcome, text = "insane outputs", problem
    if (workdir / "keep.txt").read_text() != "a user's file":
        outcome = "user files lost"
    COUNTS[outcome] += 1
    COUNTS["cases"] += 1
    assert outcome in ("clean error", "valid run"), f"{outcome}: sendsim {' '.join(args)}\n{text[-3000:]}"
    return outcome


def _insane_outputs(out: Path, kind: str) -> str | None:
    """No infinite number, no negative count; the run's files are all there."""
    if kind != "run":
        return None
    for name in ("manifest.json", "metrics.parquet", "system.parquet", "children.parquet"):
        if not (out / name).is_file():
            return f"{name} missing"
    metrics = pd.read_parquet(out / "metrics.parquet")
    if np.isinf(metrics["value"].to_numpy(dtype=float)).any():
        return "infinite metric value"
    system = pd.read_parquet(out / "system.parquet")
    for column in system.select_dtypes("number").columns:
        values = system[column].to_numpy(dtype=float)
        if np.isinf(values).any():
            return f"system.{column} infinite"
        if pd.api.types.is_integer_dtype(system[column]) and (values < 0).any():
            return f"system.{column} negative count"
    return None


# ---- the corpus --------------------------------------------------------------------------------
CORPUS_CONFIGS = sorted((CORPUS / "configs").glob("*.yaml"))
CORPUS_EXPERIMENTS = sorted((CORPUS / "experiments").glob("*.yaml"))
QUICK_VALID = ("valid_one_month", "valid_beta_boundaries", "valid_tiny_experiment")  # the rest of valid_* run in make test-all


def _cases(paths: list[Path]) -> list:
    """Every corpus file; valid runs (seconds each, with figures) beyond a quick few are slow tests."""
    return [pytest.param(p, id=p.stem, marks=pytest.mark.slow if p.stem.startswith("valid_") and p.stem not in QUICK_VALID else ())
            for p in paths]


def _copy_corpus(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(CORPUS, work / "adversarial")
    shutil.copytree(ROOT / "configs", work / "configs")
    return work


@pytest.mark.parametrize("case", _cases(CORPUS_CONFIGS))
def test_corpus_config_through_run(tmp_path: Path, case: Path) -> None:
    work = _copy_corpus(tmp_path)
    config = work / "adversarial" / "configs" / case.name
    outcome = run_case(work, ["run", str(config), "--replicates", "1", "--workers", "1", "--out", "out"], "run")
    expected = "valid run" if case.stem.startswith("valid_") else "clean error"
    assert outcome == expected, case.name


@pytest.mark.parametrize("command", ["validate", "compare"])
def test_corpus_configs_through_other_commands(tmp_path: Path, command: str) -> None:
    """Every invalid corpus config is refused the same way by the other commands."""
    work = _copy_corpus(tmp_path)
    for case in CORPUS_CONFIGS:
        if case.stem.startswith("valid_") or (command == "validate" and case.stem.startswith("end_")):
            continue  # `validate` sets run.end itself
        config = str(work / "adversarial" / "configs" / case.name)
        args = ["validate", config, "--replicates", "1", "--workers", "1"] if command == "validate" else \
            ["compare", str(work / "configs" / "baseline.yaml"), config, "--replicates", "1", "--workers", "1", "--out", "out"]
        assert run_case(work, args, command) == "clean error", case.name


@pytest.mark.parametrize("case", _cases(CORPUS_EXPERIMENTS))
def test_corpus_experiment_file(tmp_path: Path, case: Path) -> None:
    work = _copy_corpus(tmp_path)
    spec = work / "adversarial" / "experiments" / case.name
    outcome = run_case(work, ["experiment", str(spec), "--executor", "serial", "--out", "out", "--no-report"], "experiment")
    expected = "valid run" if case.stem.startswith("valid_") else "clean error"
    assert outcome == expected, case.name


def test_the_corpus_covers_the_reported_failures() -> None:
    names = {p.stem for p in CORPUS_CONFIGS} | {p.stem for p in CORPUS_EXPERIMENTS}
    for needed in ("billion_laughs", "deep_lists", "latin1", "utf16", "empty", "false", "zero", "list",
                   "extends_etc_shadow", "extends_cycle_a", "date_garbage", "nan_tilt", "zero_type_mix",
                   "end_far_future", "grid_with_uncertainties", "valid_no_special_places",
                   "valid_refusal_certain", "valid_one_month", "valid_tiny_council"):
        assert needed in names, needed


# ---- the mutator ---------------------------------------------------------------------------------
def _bad_values(row: dict) -> list:
    lo, hi = row["bounds"]
    default = row["default"]
    values: list = [float("nan"), float("inf"), -float("inf"), None, "text", [], {}, True, -1, 0, 1e308]
    if lo is not None:
        values += [lo, lo - 1e-9, lo - 1]
    if hi is not None:
        values += [hi, hi + 1e-9, hi * 10 + 1]
    if row["plausible"]:
        values += list(row["plausible"])
    if isinstance(default, list):
        n = len(default)
        values += [[0.0] * n, [float("nan")] * n, default[:-1], default + [1.0], [1e9] * n, [-1.0] * n]
    if row["unit"] == "YYYY-MM":
        values += ["2029-13", "next year", "2026/03", "2029-9", "9999-12", "1999-12", "2025-01", "2075-12"]
    return values


def _extreme_values(row: dict) -> list:
    """Values the schema accepts, at its edges: the model must run on them (or the schema refuse them)."""
    lo, hi = row["bounds"]
    default = row["default"]
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return [default]
    values = [v for v in (lo, hi, *(row["plausible"] or ())) if v is not None]
    if row["path"] in ("population.scale", "population.councils", "population.pupils_per_council"):
        values = [v for v in values if v is not None and v <= (0.02 if row["path"] == "population.scale" else 2 if row["path"] == "population.councils" else 3000)] or [default]
    return [type(default)(v) for v in values]


@st.composite
def mutated_config(draw) -> tuple[str, dict]:
    base_path = draw(st.sampled_from(CONFIGS))
    data = yaml.safe_load(base_path.read_text()) or {}
    for section, values in QUICK.items():
        data.setdefault(section, {})
        if isinstance(data[section], dict):
            data[section].update(values)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["extreme", "extreme", "extreme", "value", "value", "date", "structure"]))
        if kind == "extreme":
            row = draw(st.sampled_from(ROWS))
            section, _, name = row["path"].rpartition(".")
            target = data.setdefault(section, {}) if section else data
            if isinstance(target, dict):
                target[name] = draw(st.sampled_from(_extreme_values(row)))
        elif kind in ("value", "date"):
            row = draw(st.sampled_from([r for r in ROWS if r["path"] in DATE_PATHS] if kind == "date" else ROWS))
            section, _, name = row["path"].rpartition(".")
            value = draw(st.sampled_from(_bad_values(row)))
            target = data.setdefault(section, {}) if section else data
            if isinstance(target, dict):
                target[name] = value
        else:
            action = draw(st.sampled_from(["unknown_key", "misspelt_section", "scalar_section", "drop_section", "deep"]))
            section = draw(st.sampled_from(list(ScenarioConfig.model_fields)))
            if action == "unknown_key" and isinstance(data.get(section), dict):
                data[section]["not_a_parameter"] = 1
            elif action == "misspelt_section":
                data[section[:-1] or "x"] = data.pop(section, {})
            elif action == "scalar_section":
                data[section] = draw(st.sampled_from([0, "x", [1, 2], None, float("nan")]))
            elif action == "drop_section":
                data.pop(section, None)
            else:
                nested: object = 1
                for _ in range(50):
                    nested = [nested]
                data[section] = nested
    return base_path.name, data


def _fuzz_once(tmp_path: Path, case: tuple[str, dict]) -> None:
    base_name, data = case
    work = tmp_path / f"case{COUNTS['cases']}"
    shutil.copytree(ROOT / "configs", work / "configs")
    config = work / "configs" / f"fuzz_{base_name}"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    try:
        run_case(work, ["run", str(config), "--replicates", "1", "--workers", "1", "--out", "out"], "run")
    finally:
        shutil.rmtree(work, ignore_errors=True)


FAST = settings(max_examples=int(os.environ.get("FUZZ_FAST_EXAMPLES", "6")), deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
SHARDS = 4  # the full run is split so `pytest -n 2` runs shards side by side


@FAST
@given(case=mutated_config())
def test_mutated_configs_fast_sample(tmp_path_factory, case) -> None:
    _fuzz_once(tmp_path_factory.mktemp("fuzz"), case)


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(SHARDS))
def test_mutated_configs_full(tmp_path_factory, monkeypatch, shard: int) -> None:
    """FUZZ_EXAMPLES mutated configs in all (default 1,000), a different fixed seed per shard.

    The run's summary and figures are not drawn here (they take most of a tiny run's time and do
    not depend on the mutated inputs beyond the tables checked); the corpus and the fast sample
    draw them."""
    from hypothesis import seed

    import sim.cli

    monkeypatch.setattr(sim.cli, "_write_report", lambda *args, **kwargs: None)

    @seed(20251130 + shard)
    @settings(max_examples=-(-FUZZ_EXAMPLES // SHARDS), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=mutated_config())
    def one(case) -> None:
        _fuzz_once(tmp_path_factory.mktemp("fuzz"), case)

    one()


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    if COUNTS:
        summary = {k: COUNTS[k] for k in sorted(COUNTS)}
        print(f"\nfuzz outcomes: {json.dumps(summary)}")
        path = os.environ.get("FUZZ_COUNTS_FILE")
        if path:  # one file per pytest-xdist worker
            Path(f"{path}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}").write_text(json.dumps(summary, indent=1))


def test_the_outcome_counter_is_not_fooled_by_a_crash(tmp_path: Path, monkeypatch) -> None:
    """The harness itself: an exception inside a command is counted as a traceback, not as clean."""
    import sim.cli

    def crash(*_args, **_kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(sim.cli, "run_scenario", crash)
    config = tmp_path / "ok.yaml"
    config.write_text(yaml.safe_dump({"name": "ok", **QUICK}))
    with pytest.raises(AssertionError, match="traceback"):
        run_case(tmp_path, ["run", str(config), "--out", "out"], "run")
    COUNTS["traceback"] -= 1  # an intended one: not part of the reported counts
    COUNTS["cases"] -= 1
