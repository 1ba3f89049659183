"""A run never deletes or overwrites a file it did not write, and refuses bad destinations early."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app
from sim.experiments import output_dir
from sim.experiments.output_dir import OutputError, check_destination, default_name, output_lock, staged_directory
from sim.experiments.results import write_manifest

runner = CliRunner()
TINY = {"population": {"scale": 0.02}, "run": {"end": "2025-03"}}


def _run_files(directory: Path, label: str, extra: tuple[str, ...] = ()) -> None:
    for name in ("metrics.parquet", "summary.md", *extra):
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(f"{label} {name}")
    write_manifest(directory, {"sendsim_version": "test", "scenario": label})


def _commit(destination: Path, label: str, extra: tuple[str, ...] = (), messages: list | None = None) -> Path:
    with staged_directory(destination, notify=(messages.append if messages is not None else None)) as tmp:
        _run_files(tmp, label, extra)
    return tmp.destination


def test_a_rerun_keeps_the_users_own_files_and_replaces_only_its_own(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _commit(out, "first", extra=("figures/a.png", "old_only.csv"))
    (out / "analysis.ipynb").write_text("my notebook")
    (out / "notes").mkdir()
    (out / "notes" / "my_notes.md").write_text("my notes")
    assert _commit(out, "second", extra=("figures/b.png",)) == out
    assert (out / "analysis.ipynb").read_text() == "my notebook"
    assert (out / "notes" / "my_notes.md").read_text() == "my notes"
    assert (out / "metrics.parquet").read_text() == "second metrics.parquet"
    assert not (out / "old_only.csv").exists() and not (out / "figures" / "a.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "sendsim-run"
    assert set(manifest["written_files"]) == {"figures/b.png", "manifest.json", "metrics.parquet", "summary.md"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_users_file_with_the_name_of_an_output_diverts_the_run_to_a_sibling(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _commit(out, "first")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["written_files"].remove("summary.md")  # as if the user had written summary.md
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "summary.md").write_text("the user's summary")
    messages: list[str] = []
    written = _commit(out, "second", messages=messages)
    assert written == tmp_path / "run-2"
    assert (out / "summary.md").read_text() == "the user's summary"
    assert (written / "summary.md").read_text() == "second summary.md"
    assert messages and "run-2" in messages[0] and "summary.md" in messages[0]


def test_an_error_while_moving_files_in_leaves_the_previous_run_intact(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    _commit(out, "first")
    (out / "mine.txt").write_text("mine")
    before = {p.name: p.read_text() for p in out.iterdir()}
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(src)
        if len(calls) == 4:  # after the old files moved aside and one new file moved in
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(output_dir.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        _commit(out, "second")
    monkeypatch.setattr(output_dir.os, "replace", real_replace)
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_error_inside_the_run_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with staged_directory(out) as tmp:
            (tmp / "metrics.parquet").write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["sendsim-experiment", "something-else"])
def test_a_directory_with_a_manifest_written_by_something_else_is_refused(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    (store / "runs").mkdir(parents=True)
    (store / "manifest.json").write_text(json.dumps({"kind": kind}))
    (store / "runs" / "task.parquet").write_text("precious")
    with pytest.raises(OutputError, match="written by something else"):
        check_destination(store)
    assert (store / "runs" / "task.parquet").read_text() == "precious"


def test_a_manifest_alone_does_not_make_an_app_folder_a_run(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "manifest.json").write_text(json.dumps({"name": "my web app", "version": "1.0"}))
    with pytest.raises(OutputError, match="written by something else"):
        check_destination(app_dir)


def test_files_symlinks_the_root_and_long_paths_are_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    for destination, reason in ((a_file, "is a file"), (link, "symbolic link"), (Path("/"), "root of the file system"),
                                (tmp_path / ("x" * 300), "too long"), (a_file / "sub", "is a file")):
        with pytest.raises(OutputError, match=reason):
            check_destination(destination)
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("name, expected", [("../../escape", "escape"), ("/abs/dir", "abs_dir"), ("..", "scenario"),
                                            ("a b/c", "a_b_c"), ("x" * 500, "x" * 100)])
def test_a_scenario_name_is_made_safe_as_a_default_directory(name: str, expected: str) -> None:
    assert default_name(name) == expected


def test_a_live_lock_refuses_a_second_writer_and_a_stale_one_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".run.lock").write_text(str(holder.pid))
        with pytest.raises(OutputError, match=f"another sendsim \\(process {holder.pid}\\)"):
            with output_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out):  # the holder is gone: its lock is stale
        assert (tmp_path / ".run.lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".run.lock").exists()


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    """Many processes commit to one directory at once: each either wins the lock or is refused;
    the directory always holds one complete run and no hidden leftovers."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from sim.experiments.output_dir import OutputError, staged_directory\n"
        "from sim.experiments.results import write_manifest\n"
        "label = sys.argv[2]\n"
        "try:\n"
        "    with staged_directory(Path(sys.argv[1])) as tmp:\n"
        "        for name in ('a.txt', 'b.txt', 'c.txt'):\n"
        "            (tmp / name).write_text(label)\n"
        "        write_manifest(tmp, {'sendsim_version': 't', 'scenario': label})\n"
        "except OutputError:\n"
        "    sys.exit(2)\n"
    )
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    writers = [subprocess.Popen([sys.executable, "-c", script, str(out), f"w{i}"], env=env) for i in range(8)]
    codes = [w.wait(timeout=120) for w in writers]
    assert set(codes) <= {0, 2} and 0 in codes
    labels = {(out / name).read_text() for name in ("a.txt", "b.txt", "c.txt")}
    assert len(labels) == 1 and json.loads((out / "manifest.json").read_text())["scenario"] in labels
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---- through the command line ------------------------------------------------------------------
def _config(tmp_path: Path, name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **TINY}))
    return path


def test_run_refuses_an_experiment_store_before_simulating(tmp_path: Path, monkeypatch) -> None:
    import sim.cli

    store = tmp_path / "experiments" / "ishigami"
    (store / "runs").mkdir(parents=True)
    (store / "manifest.json").write_text(json.dumps({"kind": "sendsim-experiment"}))

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(sim.cli, "run_scenario", must_not_run)
    for command in (["run", str(_config(tmp_path))], ["compare", str(_config(tmp_path)), str(_config(tmp_path, "b"))]):
        result = runner.invoke(app, [*command, "--out", str(store), "--replicates", "1", "--workers", "1"])
        assert result.exit_code == 2, result.output
        assert "written by something else" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in store.iterdir()) == ["manifest.json", "runs"]


def test_run_twice_into_a_directory_with_a_users_notebook(tmp_path: Path) -> None:
    config, out = _config(tmp_path), tmp_path / "out"
    first = runner.invoke(app, ["run", str(config), "--out", str(out), "--replicates", "1", "--workers", "1"])
    assert first.exit_code == 0, first.output
    (out / "analysis.ipynb").write_text("{}")
    second = runner.invoke(app, ["run", str(config), "--out", str(out), "--replicates", "1", "--workers", "1"])
    assert second.exit_code == 0, second.output
    assert (out / "analysis.ipynb").read_text() == "{}"
    assert "metrics.parquet" in json.loads((out / "manifest.json").read_text())["written_files"]


def test_an_unsafe_scenario_name_stays_under_results(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "evil.yaml"
    config.write_text(yaml.safe_dump({"name": "../../outside", **TINY}))
    result = runner.invoke(app, ["run", str(config), "--replicates", "1", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "outside" / "manifest.json").is_file()
    assert not (tmp_path.parent / "outside").exists()


def test_calibrate_refuses_to_overwrite_a_file_it_did_not_write_before_fitting(tmp_path: Path, monkeypatch) -> None:
    import sim.calibration.fit as fit

    def must_not_fit(*_args, **_kwargs):
        raise AssertionError("fitted before checking --out")

    monkeypatch.setattr(fit, "calibrate", must_not_fit)
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: my own scenario\n")
    result = runner.invoke(app, ["calibrate", "baseline", "--out", str(mine), "--budget", "1"])
    assert result.exit_code == 2 and "not written by `sendsim calibrate`" in result.output
    assert mine.read_text() == "name: my own scenario\n"
    (tmp_path / "other.fit.json").write_text("{}")
    result = runner.invoke(app, ["calibrate", "baseline", "--out", str(tmp_path / "other.yaml"), "--budget", "1"])
    assert result.exit_code == 2 and "refusing to overwrite" in result.output
    mine.write_text(fit.CALIBRATED_HEADER + " earlier\nname: x\n")  # an earlier calibration may be replaced
    fit.check_calibration_out(mine)


def test_an_experiment_refuses_a_symlinked_or_file_out(tmp_path: Path) -> None:
    from sim.experiments.engine import run_experiment
    from sim.experiments.store import StoreError

    spec = tmp_path / "ish.yaml"
    spec.write_text("name: ish\ntask: ishigami\nuncertainties:\n  x1: {low: -3, high: 3}\n  x2: {low: -3, high: 3}\n"
                    "  x3: {low: -3, high: 3}\ndesign: {method: latin_hypercube, samples: 2}\n")
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    for out, reason in ((link, "symbolic link"), (a_file, "not a directory")):
        with pytest.raises(StoreError, match=reason):
            run_experiment(spec, executor="serial", out=out)
    assert list(target.iterdir()) == [] and a_file.read_text() == "mine"
