"""Where a number came from: versions, git commit, config hash, command (manifest.json).

Why: results are quoted in public debate; every output folder must answer "how do I get this
again?" without the person who made it.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from sim import __version__
from sim.config import ScenarioConfig, config_hash

PACKAGES = ("sendsim", "mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "networkx", "seaborn", "matplotlib")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_state(repo: Path | None = None) -> dict[str, object]:
    """Commit and dirty flag of the code that ran (unknown outside a git checkout)."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, check=True).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def run_manifest(config: ScenarioConfig, config_path: Path | str | None, outputs, started: str, command: str) -> dict:
    """The manifest of one scenario's replicates (`sendsim run`, and each side of a comparison):
    the resolved config and its hash, seeds, versions, git state, times and the command."""
    return {
        "sendsim_version": __version__,
        "scenario": config.name,
        "config_file": str(config_path) if config_path else "<in memory>",
        "config": config.model_dump(mode="json"),
        "config_sha256": config_hash(config),
        "seed": config.run.seed,
        "replicates": len(outputs),
        "replicate_seeds": {str(o.replicate): o.seed for o in outputs},
        "packages": package_versions(),
        "git": git_state(),
        "started": started,
        "finished": now_iso(),
        "command": command,
    }
