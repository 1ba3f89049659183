"""One definition per concept: each rule the model uses in several places is written once.

Why: a concept copied into several processes can drift (one copy changed, the others not) and the
model would then disagree with itself, e.g. need counted as met by the access metrics while the
same child's need grows as unmet. These tests check the single definitions and that no process
writes its own copy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from sim.processes import support

ROOT = Path(__file__).resolve().parents[1]


def test_support_matches_need_at_the_match_fraction_of_severity(fresh_model) -> None:
    ctx = fresh_model.context()
    c = ctx.c
    fraction = ctx.config.sen_support.match_fraction
    rows = np.arange(4)
    c.severity[rows] = np.float32(2.0)
    c.support_intensity[rows] = np.float32(2.0) * np.float32(fraction) * np.array([0.5, 0.999, 1.0, 1.5], dtype=np.float32)
    assert support.is_matched(ctx, rows).tolist() == [False, False, True, True]
    whole = support.is_matched(ctx)
    assert whole.shape == c.severity.shape
    assert np.array_equal(whole[rows], support.is_matched(ctx, rows))


def test_no_process_writes_its_own_match_rule() -> None:
    """Only `support.is_matched` reads `match_fraction`: every other use goes through it. The
    object-per-agent oracle (`sim/oracle/`) is the exception by design: it restates every rule
    per child so that the vectorised rules can be checked against it."""
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "sim").rglob("*.py")
        if any(isinstance(node, ast.Attribute) and node.attr == "match_fraction" for node in ast.walk(ast.parse(path.read_text())))
    )
    assert readers == ["sim/oracle/agents.py", "sim/processes/support.py"]


def test_every_public_process_function_says_what_it_encodes() -> None:
    """Each public function of a process has a docstring (what the rule does and on what evidence)."""
    missing = []
    for path in sorted((ROOT / "sim" / "processes").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and not ast.get_docstring(node):
                missing.append(f"{path.name}:{node.name}")
    assert missing == []


def _mentions_year_group(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr == "year_group")
        or (isinstance(n, ast.Name) and n.id == "year_group")
        or (isinstance(n, ast.Constant) and n.value == "year_group")
        for n in ast.walk(node)
    )


def test_year_group_thresholds_are_named() -> None:
    """A rule comparing a year group with a number uses `sim.population.year_groups` (no bare 7, 11, 13)."""
    bare = []
    for path in sorted((ROOT / "sim").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and _mentions_year_group(node):
                sides = [node.left, *node.comparators]
                if any(isinstance(side, ast.Constant) and isinstance(side.value, int) and side.value > 0 for side in sides):
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []


def test_one_need_draw_for_the_start_and_for_onset() -> None:
    """The type mix and the relative severity by type of a new need are read in one module
    (`sim/population/need_draw.py`), used by both the start population and the monthly onset."""
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "sim").rglob("*.py")
        if any(isinstance(node, ast.Attribute) and node.attr in ("type_mix", "deprivation_type_tilt", "type_severity")
               for node in ast.walk(ast.parse(path.read_text())))
    )
    assert readers == ["sim/population/need_draw.py"]
    for user in ("sim/population/build.py", "sim/processes/needs.py"):
        assert "need_type_from_uniform" in (ROOT / user).read_text()
