"""Load scenario YAML: `extends:` chains, deep-merged diffs, strict validation, clear errors.

Why: a reform is best read as a diff against the baseline, and a typo in a parameter name must
stop the run with a message a researcher understands, before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.config.params import field_info
from sim.config.schema import ScenarioConfig


class ConfigError(ValueError):
    """A scenario file is invalid; the message names the file, field, value and allowed range."""


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively overlay `override` on `base` (lists and scalars are replaced, not merged)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml_with_extends(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML scenario, resolving `extends:` (relative to the file) recursively."""
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(p.name for p in (*_seen, path))
        raise ConfigError(f"{path}: `extends` forms a cycle ({chain})")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: `extends` must be a file name, got {parent!r}")
    base = read_yaml_with_extends(path.parent / parent, (*_seen, path))
    return deep_merge(base, data)


def validate_config(data: dict[str, Any], origin: str = "<config>") -> ScenarioConfig:
    """Validate a plain dict against the schema, turning pydantic errors into readable ones."""
    try:
        return ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, origin)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ScenarioConfig:
    """Load a scenario file (with `extends:`) and optional dotted-path-free nested overrides."""
    data = read_yaml_with_extends(Path(path))
    if overrides:
        data = deep_merge(data, overrides)
    return validate_config(data, origin=str(path))


def explain(exc: ValidationError, origin: str) -> str:
    """One line per problem: `section.field = value`: what is wrong and the allowed range."""
    lines = [f"{origin}: invalid configuration ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        loc = tuple(error["loc"])
        dotted = ".".join(str(p) for p in loc) or "<top level>"
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            lines.append(f"  - `{dotted}` is not a known parameter (check the spelling; see docs/PARAMETERS.md)")
            continue
        info = field_info(ScenarioConfig, loc)
        detail = error["msg"]
        allowed = ""
        if info is not None:
            bounds = [m for m in info.metadata]
            ge = next((m.ge for m in bounds if getattr(m, "ge", None) is not None), None)
            gt = next((m.gt for m in bounds if getattr(m, "gt", None) is not None), None)
            hi = next((m.le for m in bounds if getattr(m, "le", None) is not None), None)
            unit = (info.json_schema_extra or {}).get("unit", "") if isinstance(info.json_schema_extra, dict) else ""
            if ge is not None or gt is not None or hi is not None:
                left = f"({gt}" if gt is not None else f"[{'-inf' if ge is None else ge}"
                allowed = f"; allowed range {left}, {'inf' if hi is None else hi}]" + (f" {unit}" if unit else "")
        shown = _short(value)
        lines.append(f"  - `{dotted}` = {shown}: {detail}{allowed}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def config_hash(config: ScenarioConfig) -> str:
    """sha256 of the resolved config (canonical JSON): the identity of a scenario."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
