"""A YAML loader for files from outside: bounded size, depth and alias expansion.

``yaml.safe_load`` is safe against code execution but not against resources:

* an *alias bomb* (``a: &a [x, x]``, ``b: &b [*a, *a]``, ... nine levels, about
  1 KB) composes into a small shared graph that every later ``dict(...)`` copy
  or validator walk expands to billions of nodes;
* about 500 levels of ``[[[[...`` make PyYAML's recursive composer raise
  ``RecursionError`` with thousands of traceback lines;
* ``/dev/zero`` (or any endless stream) given as a file is read without bound.

:func:`load_yaml_file` reads at most :data:`MAX_YAML_BYTES`, composes with a
depth limit, and counts the nodes the document *expands* to (an alias counts
as a full copy of its anchor) before anything is constructed. Mapping keys must
be names (letters, digits, ``_ - .`` or integers): a key that is not a name is
refused without being echoed, so a non-YAML file (``/etc/shadow`` parses as a
mapping whose keys are its lines) never reaches an error message.

Every refusal is one :class:`YamlRefused` line, ``LABEL: problem``, naming the
line number for syntax errors and never quoting the file's text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError

#: Profiles and scenarios are a few KB; 1 MiB leaves room and bounds the read.
MAX_YAML_BYTES = 1024 * 1024
#: Deepest nesting of mappings/sequences (shipped files use fewer than 8).
MAX_YAML_DEPTH = 64
#: Most nodes a document may expand to, aliases counted as copies.
MAX_YAML_NODES = 200_000
#: Suffixes a file named by a path must carry.
YAML_SUFFIXES = (".yaml", ".yml")

_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}|-?[0-9]{1,12}")


class YamlRefused(ConfigError):
    """A YAML file was refused: unreadable, too large, too deep, too many nodes."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than MAX_YAML_DEPTH."""

    max_depth = MAX_YAML_DEPTH

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refusal(f"line {mark.line + 1}: nested deeper than {self.max_depth} levels")
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


class _Refusal(Exception):
    """Internal: a limit hit while composing (converted to YamlRefused)."""


def _check_graph(root: Node, max_nodes: int) -> None:
    """Refuse a node graph that expands past ``max_nodes`` or has a key that is not a name.

    Expanded sizes are memoised per node object, so the walk is linear in the
    composed graph even when aliases make the expanded tree exponential. A
    node met again while still being sized is a recursive alias.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # Iterative post-order walk: (node, children-visited?)
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            total = 1
            for child in _children(node):
                total += sizes[id(child)]
            if total > max_nodes:
                raise _Refusal(
                    f"line {node.start_mark.line + 1}: expands to more than {max_nodes} "
                    "nodes (aliases count as copies)"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in active:
            raise _Refusal(f"line {node.start_mark.line + 1}: recursive alias")
        active.add(key)
        if isinstance(node, MappingNode):
            for key_node, _ in node.value:
                if not (
                    isinstance(key_node, ScalarNode) and _KEY_PATTERN.fullmatch(key_node.value)
                ):
                    raise _Refusal(
                        f"line {key_node.start_mark.line + 1}: a mapping key is not a name "
                        "(letters, digits, '_', '-', '.'); is this a YAML file?"
                    )
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise _Refusal(f"line {child.start_mark.line + 1}: recursive alias")
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml_text(text: str, label: str, *, max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse one YAML document from ``text`` within the limits; ``label`` names it in errors."""
    try:
        # PyYAML checks the whole text for characters YAML forbids (C0 controls
        # other than tab and newlines, U+FFFE, ...) when the loader is built.
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise YamlRefused(
            f"{label}: character U+{character:04X} at offset {exc.position} is not allowed in YAML"
        ) from None
    try:
        try:
            root = loader.get_single_node()
        except _Refusal as exc:
            raise YamlRefused(f"{label}: {exc}") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}: " if mark is not None else ""
            # ``problem`` is PyYAML's fixed wording plus at most one character
            # or an alias name; the snippet of the line (str(exc)) is left out.
            problem = " ".join((exc.problem or exc.context or "invalid YAML").split())
            raise YamlRefused(f"{label}: {where}{problem[:120]}") from None
        except yaml.YAMLError:
            raise YamlRefused(f"{label}: not valid YAML") from None
        except RecursionError:  # belt and braces: the composer is depth-limited
            raise YamlRefused(f"{label}: nested too deeply") from None
        if root is None:
            return None
        try:
            _check_graph(root, max_nodes)
        except _Refusal as exc:
            raise YamlRefused(f"{label}: {exc}") from None
        try:
            return loader.construct_document(root)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = " ".join((exc.problem or "invalid value").split())
            raise YamlRefused(f"{label}: {where}{problem[:120]}") from None
        except Exception:
            # PyYAML's constructors trust a tagged scalar's shape: an empty
            # ``!!int``/``!!float`` raises IndexError and an empty ``!!timestamp``
            # AttributeError from inside PyYAML (found by hypothesis). Nothing
            # but PyYAML runs here, so any error is a value that cannot be read.
            raise YamlRefused(f"{label}: a value cannot be read") from None
    finally:
        loader.dispose()


def read_bounded(path: Path, label: str, *, max_bytes: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of ``path``, refusing files larger than ``max_bytes``.

    Reads at most ``max_bytes + 1`` bytes, so ``/dev/zero`` or a FIFO that never
    ends costs one bounded read, not all of memory.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise YamlRefused(f"{label}: no such file") from None
    except IsADirectoryError:
        raise YamlRefused(f"{label}: is a directory, not a YAML file") from None
    except PermissionError:
        raise YamlRefused(f"{label}: permission denied") from None
    except OSError as exc:
        raise YamlRefused(f"{label}: cannot read: {exc.strerror or type(exc).__name__}") from None
    except ValueError:  # a NUL in the name (from a YAML string, never from argv)
        raise YamlRefused(f"{label!r}: not a usable file name") from None
    if len(data) > max_bytes:
        raise YamlRefused(f"{label}: larger than {max_bytes} bytes; not a profile or scenario")
    if b"\x00" in data:
        raise YamlRefused(f"{label}: contains NUL bytes; not a YAML text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlRefused(f"{label}: not UTF-8 text (byte offset {exc.start})") from None


def load_yaml_file(path: str | Path, label: str | None = None, *, require_suffix: bool = True) -> Any:
    """Read and parse one YAML file from outside within every limit.

    ``require_suffix`` refuses a path without a ``.yaml``/``.yml`` suffix before
    opening it, so a system file named by mistake (or on purpose) is never read.
    """
    path = Path(path)
    label = label if label is not None else str(path)
    if require_suffix and path.suffix.lower() not in YAML_SUFFIXES:
        raise YamlRefused(f"{label}: not a YAML file (the name must end in .yaml or .yml)")
    return load_yaml_text(read_bounded(path, label), label)
