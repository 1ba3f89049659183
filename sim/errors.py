"""One error path for everything a user can cause: a plain message, exit code 2, nothing written.

Why: sendsim is run by researchers and students, not by its developers. A bad input, an unusable
output directory or an interrupted run must end in one message that says which file and field
are at fault and what to do, never in a traceback. Errors the user can fix derive from
`UserError` (config, output, store, pairing errors); an operating-system error (permissions, a
full disk) is reported with the path it concerns. Anything else is a defect of sendsim: it is
reported as such (exit code 3) with a hint to rerun with `--debug`, which shows the traceback.

This module sits below every layer (it imports nothing from the package), so any layer can raise
a `UserError`; the command-line layer wraps each command with `guarded`.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130
DEBUG_ENV = "SENDSIM_DEBUG"


class UserError(Exception):
    """Something the user can fix; the message names the file or field and what to do."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same orderly stop as Ctrl-C (SIGINT)."""


def _debug_from_environment() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


_state = {"debug": _debug_from_environment()}


def set_debug(enabled: bool) -> None:
    """Set by each command line (`--debug`, or SENDSIM_DEBUG=1 in the environment)."""
    _state["debug"] = bool(enabled) or _debug_from_environment()


def debug_enabled() -> bool:
    return _state["debug"]


def stop_on_sigterm() -> None:
    """Make SIGTERM raise `Interrupted` in the main thread, so `finally` blocks stop worker
    processes and remove temporary files exactly as after Ctrl-C (a default SIGTERM would kill
    this process at once and leave its workers running with no parent)."""

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(f"signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread (e.g. inside a test runner's worker thread)
        pass


def describe(exc: BaseException) -> tuple[str, int]:
    """(message, exit code) for an exception that reached the command line."""
    if isinstance(exc, KeyboardInterrupt):
        message = ("Interrupted: stopped worker processes; nothing half-written was kept and earlier results are intact.\n"
                   "Run the same command again to start over (an experiment resumes where it stopped).")
        return message, EXIT_INTERRUPTED
    if isinstance(exc, UserError):
        return str(exc), EXIT_USER_ERROR
    if isinstance(exc, MemoryError):
        message = ("Out of memory: this run needs more memory than the machine has. Use a smaller "
                   "population.scale, fewer councils or fewer --workers.")
        return message, EXIT_USER_ERROR
    if isinstance(exc, RecursionError):
        return "The input is nested too deeply to process; simplify the file.", EXIT_USER_ERROR
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        message = (f"Cannot read or write{where}: {reason}. Check the path, its permissions and the free disk space; "
                   f"earlier results are intact.")
        return message, EXIT_USER_ERROR
    text = " ".join(str(exc).split())[:300]
    message = (f"sendsim stopped on an unexpected error ({type(exc).__name__}: {text}).\n"
               f"This is a defect of sendsim or an input its checks missed; nothing was written. "
               f"Rerun with --debug to see the traceback and report it.")
    return message, EXIT_INTERNAL_ERROR


def guarded(command: Callable[..., Any], echo: Callable[[str], None] | None = None) -> Callable[..., Any]:
    """Wrap a command: every exception becomes one message and an exit code (2 for the user's,
    3 for sendsim's own defects, 130 when interrupted); `--debug` re-raises with the traceback."""
    # lazy: only a wrapped command needs click/typer; the simulation layers and worker processes import this module without them
    import click
    import typer

    passthrough = (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except passthrough:
            raise
        except BaseException as exc:
            if debug_enabled():
                raise
            message, code = describe(exc)
            (echo or _stderr)(message)
            raise typer.Exit(code) from None

    return wrapper


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class MissingExtra(UserError, ImportError):
    """A feature needs an optional group of packages (a pyproject "extra") that is not installed."""


def require_extra(module: str, extra: str, feature: str) -> Any:
    """Import `module`, or stop with a message naming the extra that provides it.

    Why: dask and Optuna are large and only some commands use them, so they are extras
    (`sendsim[distributed]`, `sendsim[calibration]`), installed by `make` from the lock file but
    not by a bare `pip install sendsim`. A user who reaches for such a feature gets one message
    saying what to install, not an ImportError traceback.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{feature} needs the optional '{extra}' extra ({module} is not installed: {exc.name or module}). "
            f"Install it with: pip install 'sendsim[{extra}]' (from a clone: pip install -e '.[{extra}]'; "
            f"`make run` and `make test` install it, pinned, from requirements/dev.lock).") from None
