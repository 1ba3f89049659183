"""User-facing text describes the model in the project's own words.

A reader of the README, the docs, a scenario file, a report or `sendsim --help` must be able to
follow every reference: nothing may point at documents outside this repository (the design
notes the project was started from), at internal issue numbers, or at paths on the machine it
was developed on. `docs/MODEL.md` is the repository's own model description and is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.config.params import parameter_table
from sim.config.schema import ScenarioConfig

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "an outside design document (MODEL.md other than docs/MODEL.md)": re.compile(r"(?<![\w/])(?<!docs/)MODEL\.md"),
    "an outside design document (POLICY.md)": re.compile(r"POLICY\.md"),
    "an outside design document (STYLE.md)": re.compile(r"STYLE\.md"),
    "the shared design folder": re.compile(r"shared design|design folder|/shared/", re.IGNORECASE),
    "an internal issue number": re.compile(r"\bissues?\s*#?\d+|#\d+\b(?!\.)", re.IGNORECASE),
    "a machine path": re.compile(r"/work/|/root/|/home/\w+|/tmp/"),
}


def offences(text: str) -> list[str]:
    found = []
    for what, pattern in FORBIDDEN.items():
        for match in pattern.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append(f"line {line}: {what}: {match.group(0)!r}")
    return found


def _files() -> list[Path]:
    files = sorted((ROOT / "docs").rglob("*.md"))
    files += sorted(p for p in (ROOT / "configs").rglob("*") if p.suffix in (".yaml", ".yml", ".md"))
    files += sorted((ROOT / "sim" / "report" / "templates").glob("*.j2"))
    files += [ROOT / name for name in ("CITATION.cff", "LICENSE") if (ROOT / name).is_file()]
    return files


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_configs_and_templates_refer_only_to_the_repository(path):
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<style>.*?</style>", "", text, flags=re.DOTALL)  # colours such as #333 are not issues
    assert offences(text) == []


def test_readme_refers_only_to_the_repository():
    assert offences((ROOT / "README.md").read_text(encoding="utf-8")) == []


def test_parameter_sources_and_meanings_refer_only_to_the_repository():
    bad = {row["path"]: offences(f"{row['source']} | {row['meaning']}") for row in parameter_table(ScenarioConfig)}
    assert {path: found for path, found in bad.items() if found} == {}


def test_cli_help_refers_only_to_the_repository():
    runner = CliRunner()
    names = [None] + [c.name or c.callback.__name__ for c in app.registered_commands]
    for name in names:
        result = runner.invoke(app, ([name] if name else []) + ["--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (name, result.output)
        assert offences(result.output) == [], name


def test_the_checker_finds_each_kind_of_outside_reference():
    text = ("see MODEL.md §5 and POLICY.md, STYLE.md; in the shared design folder; issue #12; "
            "/work/shared/x; results in /tmp/run")
    kinds = {o.split(": ")[1] for o in offences(text)}
    assert len(kinds) == len(FORBIDDEN)
    assert offences("the ODD description is docs/MODEL.md; see docs/METRICS.md, and (§5)") == []
