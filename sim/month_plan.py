"""The month as a plan: an ordered list of named stages, each one mechanism applied to all children.

Why a plan rather than a `step()` full of branches: the order of mechanisms is one of the model's
main structural assumptions (need changes before the school notices it, support is set before
families decide whether to request an assessment, costs are booked after everything that incurs
them). Written as data, the order can be printed and timed stage by stage (`sendsim plan`), and
the reform's transition swaps one plan for another on a date instead of testing dates inside
every process.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sim.step_context import StepContext

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Stage:
    """One mechanism of the month: `run(ctx)` for every child it concerns, in calendar `months`
    only (empty = every month), and not in the start month when `after_start` is set."""

    name: str
    run: Callable[[StepContext], object]
    months: tuple[int, ...] = ()
    after_start: bool = False

    def applies(self, ctx: StepContext) -> bool:
        return (not self.months or ctx.month in self.months) and not (self.after_start and ctx.t == 0)

    @property
    def when(self) -> str:
        if not self.months:
            return "monthly"
        text = ", ".join(MONTH_NAMES[m - 1] for m in self.months)
        return text + (" (not at start)" if self.after_start else "")

    @property
    def rule(self) -> str:
        """The first line of the function's docstring: what the stage decides."""
        doc = getattr(self.run, "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


@dataclass
class StageTimer:
    """Wall seconds and calls per stage name, accumulated over a run."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def run(self, stages: Iterable[Stage], ctx: StepContext) -> None:
        for stage in stages:
            if not stage.applies(ctx):
                continue
            started = time.perf_counter()
            stage.run(ctx)
            self.seconds[stage.name] += time.perf_counter() - started
            self.calls[stage.name] += 1
