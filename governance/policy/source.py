"""Envelope YAML text to a document, within bounds (plain Python, no Django).

yaml.safe_load constructs only plain types, but it expands aliases: a few hundred bytes of
nested `&a [*b, *b, ...]` ("billion laughs") make a document of billions of values, and every
later step (validation, JSON storage, the audit hash) walks all of it. Envelopes do use
anchors to share a schema or a rule list between capabilities, so aliases stay allowed; what
is bounded is the document they expand to. The loader counts, while composing and before any
Python object exists, how many values the document holds with every alias expanded and how
deeply it nests (an alias counts the nesting of what it points at), and stops at
MAX_NODES / MAX_DEPTH. It also refuses text over MAX_ENVELOPE_BYTES.
"""

from typing import Any

import yaml

from governance.policy.limits import MAX_DEPTH, MAX_ENVELOPE_BYTES, MAX_NODES


class SourceError(ValueError):
    """YAML text that cannot be an envelope; the message says why (and where, when known)."""


def _where(mark) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that stops, while composing, at more than max_nodes values (aliases
    expanded) or nesting deeper than max_depth (aliases included)."""

    max_depth = MAX_DEPTH
    max_nodes = MAX_NODES

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0  # mappings and lists open around the node being composed
        self._reach = 0  # the deepest level reached inside the node being composed
        self._expanded = 0  # values so far, every alias counted as the values it stands for
        self._size: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels below it)

    def _count(self, values: int, mark) -> None:
        self._expanded += values
        if self._expanded > self.max_nodes:
            raise SourceError(
                f"the envelope has more than {self.max_nodes} values (YAML aliases counted in full){_where(mark)}"
            )

    def _reached(self, level: int, mark) -> None:
        if level > self.max_depth:
            raise SourceError(f"the envelope nests deeper than {self.max_depth} levels{_where(mark)}")
        self._reach = max(self._reach, level)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._size.get(id(node))
            if size is None:  # an alias inside its own anchor: a document without end
                raise SourceError(f"YAML alias *{event.anchor} refers to itself{_where(event.start_mark)}")
            self._count(size[0], event.start_mark)
            self._reached(self._depth + size[1], event.start_mark)
            return node
        self._count(1, event.start_mark)
        nested = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        before, outer_reach = self._expanded - 1, self._reach
        self._reach = self._depth
        if nested:
            self._depth += 1
            self._reached(self._depth, event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1
        below = self._reach - self._depth
        self._size[id(node)] = (self._expanded - before, below)
        self._reach = max(outer_reach, self._reach)
        return node


def load_yaml(
    source: str | bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES, max_nodes: int = MAX_NODES, what: str = "envelope"
) -> Any:
    """Parse one YAML document within the bounds above. Raises SourceError."""
    size = len(source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source)
    if size > max_bytes:
        raise SourceError(f"the {what} is {size} bytes; the limit is {max_bytes} bytes")
    loader = BoundedLoader(source)
    loader.max_nodes = max_nodes
    try:
        return loader.get_single_data()
    except SourceError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SourceError(f"not valid YAML{_where(mark)}: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise SourceError(f"the {what} nests too deeply") from None
    finally:
        loader.dispose()


def check_shape(document: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> str | None:
    """Why a parsed document is too big or too deep, or None. Walks without recursion and
    stops at max_nodes, so even a document full of shared references (a YAML alias bomb
    loaded elsewhere) costs at most max_nodes steps."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > max_nodes:
            return f"the envelope has more than {max_nodes} values"
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth + 1 > max_depth:
            return f"the envelope nests deeper than {max_depth} levels"
        if len(children) + seen > max_nodes:
            return f"the envelope has more than {max_nodes} values"
        stack.extend((child, depth + 1) for child in children)
    return None
