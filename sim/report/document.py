"""Report plumbing: a page built once as blocks, rendered to Markdown and to self-contained HTML.

Why one model, two renderings: `report.md` and `report.html` must never disagree, so a report
module adds headings, paragraphs, tables, figures and boxes to a `Document`, and the Jinja2
templates in `sim/report/templates/` render it. The HTML page embeds every figure as a base64
PNG and carries its own table of contents and style, so a `report.html` sent alone by e-mail or
copied to another directory still shows everything: it refers to no other file.

Also here, because every report needs them: the figures' canvas and files, number formatting (signed values, money, shares),
need codes spelled out, and the "read this first" box that says what was simulated, in what
prices, and what the intervals cover.
"""

from __future__ import annotations

import base64
import html as html_lib
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TEMPLATE_DIR = Path(__file__).parent / "templates"
DASH = "–"
#: A report's figures live in this directory beside its page, linked by relative paths (so the
#: page and its figures can be moved together); 150 dots per inch reads well on screen and print.
FIGURE_DIR = "figures"
FIGURE_DPI = 150


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1) -> tuple[Figure, object]:
    """A constrained-layout figure of `nrows` x `ncols` axes (a 2-D array) on its own Agg canvas.

    Why its own canvas: reports are drawn in worker threads and in library calls; pyplot's global
    state and backend switch would leak between them (and into a notebook's own figures).
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig: Figure, report_dir: Path, name: str) -> str:
    """Write `fig` to `report_dir/figures/name`; returns the link the page uses (`figures/name`)."""
    directory = Path(report_dir) / FIGURE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    fig.savefig(directory / name, dpi=FIGURE_DPI)
    return f"{FIGURE_DIR}/{name}"

#: The SEN2 / school census primary need codes, spelled out for readers outside the sector.
NEED_NAMES = {
    "ASD": "autistic spectrum disorder",
    "SLCN": "speech, language and communication needs",
    "SEMH": "social, emotional and mental health",
    "MLD": "moderate learning difficulty",
    "SpLD": "specific learning difficulty (e.g. dyslexia)",
    "SLD": "severe learning difficulty",
    "PMLD": "profound and multiple learning difficulty",
    "PD": "physical disability",
    "HI": "hearing impairment",
    "VI": "visual impairment",
    "MSI": "multi-sensory impairment",
    "OTH": "other difficulty or disability",
}
#: Other abbreviations the reports use, spelled out in their glossary.
ABBREVIATIONS = {
    "EHCP": "education, health and care plan (the legal plan of today's system)",
    "ISP": "Individual Support Plan (the reform's non-statutory plan)",
    "FSM": "eligible for free school meals (the usual marker of low family income)",
    "SEN support": "support in school without a plan (the reform's Targeted tier)",
    "KS4": "Key Stage 4 (GCSE, age 16)",
    "NEET": "not in education, employment or training",
}


def need_label(code: str) -> str:
    """'SLCN' -> 'SLCN (speech, language and communication needs)'."""
    name = NEED_NAMES.get(str(code))
    return f"{code} ({name})" if name else str(code)


# ---- number formatting -------------------------------------------------------------------------
def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or bool(pd.isna(value))


def num(value, decimals: int, signed: bool = False) -> str:
    if is_missing(value):
        return DASH
    text = f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"
    return text.replace("-", "−")


def money(value, signed: bool = False) -> str:
    """£ with a readable scale (thousands, millions or billions)."""
    if is_missing(value):
        return DASH
    size = abs(value)
    scale, suffix = ((1e9, "bn") if size >= 1e9 else (1e6, "m") if size >= 1e6 else (1e3, "k") if size >= 1e3
                     else (1.0, ""))
    sign = ("+" if value > 0 else "−" if value < 0 else "±") if signed else ("−" if value < 0 else "")
    return f"{sign}£{size / scale:,.{2 if scale > 1 else 0}f}{suffix}"


def interval(mean, lo, hi, decimals: int, signed: bool = False) -> str:
    return f"{num(mean, decimals, signed)} [{num(lo, decimals, signed)}, {num(hi, decimals, signed)}]"


# ---- the document model ------------------------------------------------------------------------
def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass
class Document:
    """Blocks in reading order: ("heading", level, text, anchor), ("para", text), ("bullets", items),
    ("table", header, rows, align), ("figure", path, title, caption), ("box", title, items)."""

    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        used = {b[3] for b in self.blocks if b[0] == "heading"}
        anchor, i = slug(text), 2
        while anchor in used:
            anchor, i = f"{slug(text)}-{i}", i + 1
        self.blocks.append(("heading", level, text, anchor))

    def para(self, text: str) -> None:
        self.blocks.append(("para", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("bullets", items))

    def table(self, header: list[str], rows: list[list[str]], align: list[str] | None = None) -> None:
        self.blocks.append(("table", header, rows, align or ["left"] + ["right"] * (len(header) - 1)))

    def figure(self, path: str, title: str, caption: str) -> None:
        self.blocks.append(("figure", path, title, caption))

    def box(self, title: str, items: list[str]) -> None:
        """A framed "read this first" box: a title and bullet points."""
        self.blocks.append(("box", title, items))

    def contents(self) -> list[tuple[str, str]]:
        """(anchor, text) of every level-2 heading: the table of contents."""
        return [(b[3], b[2]) for b in self.blocks if b[0] == "heading" and b[1] == 2]

    def markdown(self) -> str:
        return _template("report.md.j2").render(blocks=self.blocks, contents=self.contents(), md=md_cell).rstrip() + "\n"

    def html(self, title: str, base_dir: Path | str | None = None) -> str:
        """Self-contained HTML: figures found under `base_dir` are embedded as base64 PNG data."""
        base = Path(base_dir) if base_dir is not None else None
        return _template("report.html.j2").render(
            title=title, blocks=self.blocks, contents=self.contents(), inline=inline,
            image=lambda path: embedded_image(path, base))


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=False, undefined=StrictUndefined,
                       keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _template(name: str):
    return _environment().get_template(name)


def md_cell(text) -> str:
    return str(text).replace("|", "\\|")


def inline(text) -> str:
    """Escape, then the two Markdown inline forms the reports use: **bold** and `code`."""
    escaped = html_lib.escape(str(text))
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def embedded_image(path: str, base_dir: Path | None) -> str:
    """A data: URI holding the PNG at base_dir/path (the path itself when the file is missing)."""
    file = (base_dir / path) if base_dir is not None else Path(path)
    if not file.is_file():
        return html_lib.escape(path)
    data = base64.b64encode(file.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


# ---- the "read this first" box -----------------------------------------------------------------
ENGLAND_PUPILS = 9_090_000  # state-funded pupils in England, January 2025 census (T248's denominator)


def england_factor(simulated_pupils: float | None, england_pupils: float = ENGLAND_PUPILS) -> float | None:
    """Multiplier from the simulated councils to England (None when unknown or already national)."""
    if not simulated_pupils or simulated_pupils <= 0:
        return None
    factor = england_pupils / simulated_pupils
    return factor if factor > 1.05 else None
