"""Parameter metadata: every number carries a unit, a meaning, a source and a plausible range.

Why: researchers vary assumptions in experiments and think tanks cite sourced numbers, so the
metadata lives next to the default, in one place, and sensitivity analysis reads the plausible
ranges from here rather than from a second list that could drift.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

YEAR_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Section(BaseModel):
    """A config section: unknown keys are errors, values are checked on assignment too.

    NaN and infinity are refused everywhere: a NaN weight would otherwise pass every bound check
    (all comparisons with NaN are false) and silently corrupt the draws it enters.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _year_month_fields(cls, value: Any, info: ValidationInfo) -> Any:
        """Every parameter whose unit is YYYY-MM must be a real month: a typo such as 2029-13
        would otherwise pass validation and fail (or silently never match) deep inside a run."""
        field = cls.model_fields.get(info.field_name or "")
        extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
        if extra.get("unit") == "YYYY-MM" and isinstance(value, str) and not YEAR_MONTH.match(value):
            raise ValueError(f"expected a month as YYYY-MM (e.g. 2029-09), got {value!r}")
        return value


def param(
    default: Any,
    *,
    unit: str,
    meaning: str,
    source: str,
    plausible: tuple[float, float] | None = None,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
) -> Any:
    """Declare a parameter.

    `source` is a reference (target id from data/targets.csv, a sen2 file, a law) or the word
    "assumption". `ge/le/gt` are hard validity bounds (checked); `plausible` is the range
    experiments sample by default (defaults to the hard bounds for sourced numbers).
    """
    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
    if numeric and source.strip().lower().startswith("assumption") and plausible is None:
        raise ValueError(f"assumption parameter ({meaning}) needs a plausible range")
    extra = {"unit": unit, "source": source, "plausible": list(plausible) if plausible else None}
    return Field(default, description=meaning, ge=ge, le=le, gt=gt, json_schema_extra=extra)


def parameter_table(model: type[BaseModel], prefix: str = "") -> list[dict[str, Any]]:
    """Flatten a config schema into rows (path, default, unit, meaning, source, range)."""
    rows: list[dict[str, Any]] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(parameter_table(annotation, prefix=f"{path}."))
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        bounds = _bounds(field)
        rows.append(
            {
                "path": path,
                "default": field.default,
                "unit": extra.get("unit", ""),
                "meaning": field.description or "",
                "source": extra.get("source", ""),
                "plausible": extra.get("plausible"),
                "bounds": bounds,
            }
        )
    return rows


def _bounds(field: Any) -> tuple[float | None, float | None]:
    lo = hi = None
    for meta in field.metadata:
        lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
        lo = getattr(meta, "gt", None) if getattr(meta, "gt", None) is not None else lo
        hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
    return lo, hi


def field_info(model: type[BaseModel], path: tuple[Any, ...]) -> Any | None:
    """Find the FieldInfo at a dotted location (used to explain validation errors)."""
    current: Any = model
    info = None
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return info
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = info.annotation
    return info
