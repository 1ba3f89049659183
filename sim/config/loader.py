"""Load scenario YAML: `extends:` chains, deep-merged diffs, strict validation, clear errors.

Why: a reform is best read as a diff against the baseline, and a typo in a parameter name must
stop the run with a message a researcher understands, before anything is written.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.config.params import field_info
from sim.config.safe_yaml import YamlInputError, load_mapping
from sim.config.schema import ScenarioConfig
from sim.errors import UserError


class ConfigError(UserError, ValueError):
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


def nest_dotted(values: dict[str, Any]) -> dict[str, Any]:
    """{"reform.x": 1, "needs.y": 2} -> {"reform": {"x": 1}, "needs": {"y": 2}}: dotted parameter
    paths in the nested shape of a YAML config diff (deep-merge it onto a config). The one place
    that turns `--set`, lever, design and ensemble values into config data."""
    out: dict[str, Any] = {}
    for path, value in values.items():
        node = out
        *head, last = path.split(".")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    return out


MAX_EXTENDS_DEPTH = 16  # a reform extends a baseline; chains longer than this are mistakes (or loops)
CONFIG_SUFFIXES = (".yaml", ".yml")


def read_yaml_with_extends(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML scenario, resolving `extends:` (relative to the file) recursively.

    Why the checks: `extends:` names any path, so it must not turn sendsim into a way of printing
    files that are not scenarios (their content never appears in an error), and a mistake in it
    is reported against the file that contains it.
    """
    try:
        path = Path(path).resolve()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{_seen[-1] if _seen else path!r}: cannot use the path {_short(str(path))} ({exc})") from None
    if path in _seen:
        chain = " -> ".join(p.name for p in (*_seen, path))
        raise ConfigError(f"{path}: `extends` forms a cycle ({chain})")
    if len(_seen) >= MAX_EXTENDS_DEPTH:
        raise ConfigError(f"{_seen[0]}: `extends` chain is longer than {MAX_EXTENDS_DEPTH} files; a reform extends a baseline")
    if _seen and path.suffix.lower() not in CONFIG_SUFFIXES:
        raise ConfigError(f"{_seen[-1]}: `extends: {path}` is not a scenario file (scenario files end in .yaml or .yml)")
    try:
        data = load_mapping(path, "config file")
    except YamlInputError as exc:
        if _seen and not _exists(path):
            raise ConfigError(f"{_seen[-1]}: `extends` file not found: {path}") from None
        raise ConfigError(f"{_seen[-1]}: in the file it extends, {exc}" if _seen else str(exc)) from None
    sections = {name for name, info in ScenarioConfig.model_fields.items() if hasattr(info.annotation, "model_fields")}
    if _seen and not set(data) & (sections | {"extends"}):
        raise ConfigError(f"{_seen[-1]}: `extends: {path}` is not a scenario config (none of its top-level keys "
                          f"is a config section such as `run` or `population`)")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        raise ConfigError(f"{path}: `extends` must be a file name such as baseline.yaml, got {_short(parent)}")
    base = read_yaml_with_extends(path.parent / parent, (*_seen, path))
    return deep_merge(base, data)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


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
        for section in overrides:
            if section in data and isinstance(overrides[section], dict) and not isinstance(data[section], dict):
                raise ConfigError(f"{path}: `{section}` must be a section (`{section}: {{...}}`), got {_short(data[section])}")
        data = deep_merge(data, overrides)
    return validate_config(data, origin=str(path))


def explain(exc: ValidationError, origin: str) -> str:
    """One line per problem: `section.field = value`: what is wrong and the allowed range."""
    lines = [f"{origin}: invalid configuration ({exc.error_count()} problem(s))"]
    for number, error in enumerate(exc.errors()):
        if number == MAX_PROBLEMS_SHOWN:
            lines.append(f"  ... and {exc.error_count() - number} more")
            break
        loc = tuple(error["loc"])
        dotted = ".".join(_short_key(p) for p in loc) or "<top level>"
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            lines.append(f"  - `{dotted}` is not a known parameter{did_you_mean(loc)} (see `sendsim params` or docs/PARAMETERS.md)")
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


MAX_PROBLEMS_SHOWN = 20


def did_you_mean(loc: tuple[Any, ...]) -> str:
    """'; did you mean `x`?' for a misspelt key, from the names known at that place in the schema."""
    parent = field_info(ScenarioConfig, loc[:-1]) if len(loc) > 1 else None
    model = parent.annotation if parent is not None else (ScenarioConfig if len(loc) == 1 else None)
    if not (isinstance(model, type) and hasattr(model, "model_fields")):
        return ""
    key = str(loc[-1])
    close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
    if close:
        return f"; did you mean `{close[0]}`?"
    if len(loc) == 1:  # a parameter written at the top level instead of in its section
        owners = [f"{section}.{key}" for section, info in ScenarioConfig.model_fields.items()
                  if hasattr(info.annotation, "model_fields") and key in info.annotation.model_fields]
        if owners:
            return f"; did you mean `{owners[0]}`?"
    return ""


def _short_key(part: Any) -> str:
    text = str(part)
    return text if len(text) <= 80 else text[:77] + "..."


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def config_hash(config: ScenarioConfig) -> str:
    """sha256 of the resolved config (canonical JSON): the identity of a scenario."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
