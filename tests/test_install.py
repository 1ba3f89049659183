"""Reproducible installs: the lock files pin every dependency `pyproject.toml` asks for (with
hashes), `make` installs from them, and a feature whose optional extra is missing says which
extra to install instead of failing with an ImportError."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sim.errors import MissingExtra, UserError

REPO = Path(__file__).resolve().parents[1]
LOCKS = {  # lock file -> the extras it is compiled with (besides the core dependencies)
    "requirements/dev.lock": ("dev", "distributed", "calibration", "dashboard"),
    "requirements/notebooks.lock": ("dev", "distributed", "calibration", "dashboard", "notebooks"),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of hashes) for every package of a pip-compile lock file."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            found[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
        elif not line.startswith(" "):
            current = None
    return found


@pytest.mark.parametrize("lock_name", sorted(LOCKS))
def test_each_lock_file_pins_every_dependency_of_pyproject_with_hashes(lock_name):
    lock = REPO / lock_name
    assert lock.is_file(), f"{lock_name} is missing: run `make lock`"
    pinned = pins(lock)
    project = pyproject()["project"]
    wanted = list(project["dependencies"])
    for extra in LOCKS[lock_name]:
        wanted += project["optional-dependencies"][extra]
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} (pyproject.toml) is not pinned in {lock_name}: run `make lock`"
        version, hashes = pinned[name]
        assert requirement.specifier.contains(version, prereleases=True), \
            f"{lock_name} pins {requirement.name}=={version}, outside pyproject's {requirement.specifier}: run `make lock`"
        assert hashes >= 1, f"{requirement.name} has no hash in {lock_name}"
    assert all(hashes >= 1 for _, hashes in pinned.values())


def test_the_notebooks_lock_agrees_with_the_dev_lock_on_every_shared_package():
    dev, notebooks = pins(REPO / "requirements/dev.lock"), pins(REPO / "requirements/notebooks.lock")
    assert set(dev) <= set(notebooks)
    assert {name: dev[name][0] for name in dev} == {name: notebooks[name][0] for name in dev}


def test_dask_and_optuna_are_extras_not_core_dependencies():
    project = pyproject()["project"]
    core = {canonicalize_name(Requirement(text).name) for text in project["dependencies"]}
    assert not core & {"dask", "distributed", "optuna"}
    extras = project["optional-dependencies"]
    assert any(Requirement(text).name == "dask" for text in extras["distributed"])
    assert any(Requirement(text).name == "optuna" for text in extras["calibration"])


def _make_dry_run(*targets: str) -> str:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no `make` on this machine")
    done = subprocess.run(["make", "-C", str(REPO), "-n", "-B", *targets], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return re.sub(r"\\\n\s*", " ", done.stdout)  # one line per command


def test_make_installs_from_the_lock_file_and_can_regenerate_it():
    install = _make_dry_run(".venv/.installed")
    assert re.search(r"pip install .*--require-hashes -r requirements/dev\.lock", install)
    assert re.search(r"pip install .*--no-deps -e \.", install)  # sendsim itself, resolving nothing more
    assert install.index("requirements/dev.lock") < install.index("--no-deps -e .")
    assert "-e '.[" not in install  # nothing installed unpinned from pyproject's ranges
    lock = _make_dry_run("lock")
    for name in LOCKS:
        assert re.search(rf"pip-compile .*--generate-hashes.*--output-file {re.escape(name)} pyproject\.toml", lock)


def test_calibration_without_its_extra_names_the_extra(monkeypatch):
    from typer.testing import CliRunner

    from sim.calibration.fit import calibrate
    from sim.cli import app
    from sim.config import load_config

    monkeypatch.setitem(sys.modules, "optuna", None)  # as if optuna were not installed
    with pytest.raises(MissingExtra, match=r"'calibration' extra.*pip install 'sendsim\[calibration\]'") as error:
        calibrate(load_config(REPO / "configs" / "baseline.yaml"), budget=1)
    assert isinstance(error.value, UserError)
    result = CliRunner().invoke(app, ["calibrate", str(REPO / "configs" / "baseline.yaml"), "--budget", "1"])
    assert result.exit_code == 2
    assert "sendsim[calibration]" in result.output and "Traceback" not in result.output


def test_the_dask_executor_without_its_extra_names_the_extra(monkeypatch):
    from sim.experiments.executors import make_executor

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if dask.distributed were not installed
    with pytest.raises(MissingExtra, match=r"--executor dask.*'distributed' extra.*sendsim\[distributed\]"):
        make_executor("dask", workers=1)


def test_the_dashboard_without_its_extra_names_the_extra(monkeypatch):
    from typer.testing import CliRunner

    from sim.cli import app

    monkeypatch.setitem(sys.modules, "solara", None)  # as if solara were not installed
    result = CliRunner().invoke(app, ["dashboard", "--no-open", "--port", "0"])
    assert result.exit_code == 2
    assert "'dashboard' extra" in result.output and "sendsim[dashboard]" in result.output
