"""Command-line changes to a scenario (`--set key=value`, `--scale`, `--end`, `--seed`) and
finding a config file from anywhere.

Why: a researcher trying one variation should not have to write a YAML file for it, but the
variation must be checked exactly as the same value in a file would be (same types, same bounds,
same messages), and a misspelt key must be named with a suggestion. Config files are looked up
relative to the working directory first and then relative to the project, so the shipped
scenarios (`configs/baseline.yaml`, or just `baseline`) work from any directory.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from sim.config.loader import ConfigError, deep_merge, did_you_mean, nest_dotted
from sim.config.params import parameter_table
from sim.config.safe_yaml import YamlInputError, parse
from sim.config.schema import ScenarioConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIRECTORY = "configs"


def parse_assignment(text: str) -> tuple[str, Any]:
    """`section.parameter=value` -> (path, value); the value is read as YAML (0.5, tiered, [1, 2])."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: write it as section.parameter=value (e.g. --set population.scale=0.1)")
    paths = {row["path"] for row in parameter_table(ScenarioConfig)}
    if key not in paths:
        close = difflib.get_close_matches(key, sorted(paths), n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else did_you_mean(tuple(key.split(".")))
        raise ConfigError(f"--set {key}: `{key}` is not a parameter{hint} (see `sendsim params`)")
    try:
        value = parse(raw, f"--set {key}") if raw.strip() else ""
    except YamlInputError as exc:
        raise ConfigError(str(exc)) from None
    return key, value


def overrides_from(assignments: list[str] | None = None, **named: Any) -> dict[str, Any]:
    """A nested override dict from `--set` assignments and named options (dotted path -> value,
    None = not given). Named options come last, so `--scale` wins over `--set population.scale`."""
    merged: dict[str, Any] = {}
    pairs = [parse_assignment(text) for text in assignments or ()]
    pairs += [(path, value) for path, value in named.items() if value is not None]
    for path, value in pairs:
        merged = deep_merge(merged, nest_dotted({path: value}))
    return merged


def find_config(path: str | Path, directory: str = CONFIG_DIRECTORY) -> Path:
    """The config file a user means: as given, else in the project or its `directory` (configs/,
    or experiments/ for experiment files), with `.yaml` added to a bare name. Returns the path as given if nothing matches, so the
    loader reports it as not found."""
    given = Path(path)
    if given.exists():
        return given
    names = [given] if given.suffix else [given, given.with_name(given.name + ".yaml")]
    for name in names:
        for candidate in (PROJECT_ROOT / name, PROJECT_ROOT / directory / name):
            if not given.is_absolute() and candidate.is_file():
                return candidate
    return given
