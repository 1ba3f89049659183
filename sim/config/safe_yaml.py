"""Reading user YAML safely: bounded size, UTF-8 only, no alias bombs, no runaway nesting.

Why: scenario and experiment files come from users and are shared between researchers. A file
that is too large, not text, nested a thousand levels deep or built from nested aliases (the
"billion laughs": a kilobyte that expands to gigabytes) must be refused at once with a message
naming the file, never exhaust memory, hang or end in a traceback. Legitimate configs are a few
kilobytes, a few levels deep and use no aliases, so the limits below leave ample room.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.errors import UserError

MAX_BYTES = 1 << 20  # 1 MiB: the largest shipped config is under 10 KB
MAX_DEPTH = 32  # nesting of mappings and lists; a scenario needs 3
MAX_NODES = 100_000  # values after expanding every alias; a scenario has about 400
MAX_ALIASES = 200  # references to anchors (`*name`) in one file


class YamlInputError(UserError, ValueError):
    """A user's YAML file cannot be read; the message names the file and what to do."""


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only) with nesting and alias limits checked while composing.

    The pure-Python composer is used (not libyaml) because only it can be stopped node by node.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlInputError(f"uses more than {MAX_ALIASES} aliases (`*name`); write the values out instead")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlInputError(f"is nested more than {MAX_DEPTH} levels deep; a scenario needs about 3")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Number of values the node stands for once every alias is expanded (memoised per node)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a node that (through a recursive alias) contains itself counts once
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = min(total, MAX_NODES + 1)
    return memo[key]


def read_text(path: Path, what: str = "config file") -> str:
    """The file's text: at most MAX_BYTES, UTF-8 (a byte-order mark is tolerated)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise YamlInputError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise YamlInputError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise YamlInputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise YamlInputError(f"{path}: larger than {MAX_BYTES // 1024} KiB; a {what} is a few kilobytes of YAML")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlInputError(f"{path}: is not UTF-8 text (byte {exc.start}); save the {what} as UTF-8") from None
    if "\x00" in text:
        raise YamlInputError(f"{path}: contains NUL characters; a {what} is plain UTF-8 text")
    return text


def parse(text: str, origin: str) -> Any:
    """Parse YAML text with the limits above; errors name `origin` and the line."""
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise YamlInputError(f"expands to more than {MAX_NODES:,} values (nested aliases?); write the values out instead")
        return loader.construct_document(node)
    except YamlInputError as exc:
        raise YamlInputError(f"{origin}: {exc}") from None
    except yaml.YAMLError as exc:
        raise YamlInputError(f"{origin}: not valid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise YamlInputError(f"{origin}: is nested too deeply to read") from None
    finally:
        loader.dispose()


def load_mapping(path: Path, what: str = "config file") -> dict[str, Any]:
    """Read a YAML file whose top level must be a non-empty mapping (an empty file is refused)."""
    data = parse(read_text(path, what), str(path))
    if data is None or (not isinstance(data, dict) and not data):
        raise YamlInputError(f"{path}: the {what} is empty; it needs at least a `name:` or an `extends:`")
    if not isinstance(data, dict):
        raise YamlInputError(f"{path}: the top level must be a mapping of sections (`section: ...`) in a {what}, "
                             f"not a {type(data).__name__}")
    if not data:
        raise YamlInputError(f"{path}: the {what} is empty; it needs at least a `name:` or an `extends:`")
    bad = [key for key in data if not isinstance(key, str)]
    if bad:
        raise YamlInputError(f"{path}: top-level keys must be names, got {_short(bad[0])}")
    return data


def _one_line(exc: yaml.YAMLError) -> str:
    """The problem and its line, without the quoted snippet (which would echo the file's content)."""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
