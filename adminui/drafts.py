"""A draft envelope in the editor: validate it, say which line an error is on, diff it
against the active version. Reads only; activating goes through envelope_apply."""

import difflib
import re
from dataclasses import dataclass

import yaml

from governance.errors import InvalidInput
from governance.models import Agent
from governance.policy import CompiledEnvelope
from governance.policy.source import BoundedLoader, SourceError
from governance.services import envelope_validate

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_LINE_IN_MESSAGE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class DraftCheck:
    """The verdict on a draft: either compiled, or one error with its field and line."""

    compiled: CompiledEnvelope | None = None
    error: str = ""
    field: str = ""
    line: int | None = None

    @property
    def ok(self) -> bool:
        return self.compiled is not None


def draft_check(*, agent: Agent, source: str) -> DraftCheck:
    """Validate a draft for this agent exactly as envelope_apply will."""
    if not source.strip():
        return DraftCheck(error="the envelope is empty")
    try:
        document, compiled = envelope_validate(source)
    except InvalidInput as exc:
        field, _, rest = exc.message.partition(": ")
        if exc.code == "invalid_envelope" and rest and _PART.match(field):
            return DraftCheck(error=exc.message, field=field, line=field_line(source, field))
        found = _LINE_IN_MESSAGE.search(exc.message)
        return DraftCheck(error=exc.message, line=int(found.group(1)) if found else None)
    if document.get("agent") != agent.name:
        # The editor of one agent must never replace another agent's envelope.
        return DraftCheck(
            error=f"agent: this is the editor of {agent.name!r}; the draft says {document.get('agent')!r}",
            field="agent",
            line=field_line(source, "agent"),
        )
    return DraftCheck(compiled=compiled)


def field_line(source: str, field: str) -> int | None:
    """1-based line of a field path such as capabilities[1].deny_when[0], or None."""
    try:
        node = yaml.compose(source, Loader=BoundedLoader)
    except (yaml.YAMLError, SourceError):
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for name, index in _PART.findall(field):
        if isinstance(node, yaml.MappingNode) and name:
            match = next((v for k, v in node.value if getattr(k, "value", None) == name), None)
            if match is None:
                # The field is missing: point at the mapping that should hold it.
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            return line
        line = node.start_mark.line + 1
    return line


MAX_DIFF_CELLS = 4_000_000


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "hunk" | "add" | "del" | "same"
    text: str
    old: int | None = None
    new: int | None = None


def draft_diff(active: str, draft: str, *, context: int = 3) -> list[DiffLine]:
    """A unified diff with old and new line numbers, ready for a template."""
    out: list[DiffLine] = []
    old_lines, new_lines = active.splitlines(), draft.splitlines()
    if len(old_lines) * len(new_lines) > MAX_DIFF_CELLS:
        # difflib's matching grows with the product of the line counts; a draft pasted
        # as 100,000 lines must not cost the web process seconds on every keystroke.
        return [DiffLine("hunk", f"(too large to compare: {len(old_lines)} and {len(new_lines)} lines)")]
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        out.append(
            DiffLine(
                "hunk",
                f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@",
            )
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [DiffLine("same", old_lines[i], i + 1, j + 1) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
                continue
            out += [DiffLine("del", old_lines[i], old=i + 1) for i in range(i1, i2)]
            out += [DiffLine("add", new_lines[j], new=j + 1) for j in range(j1, j2)]
    return out


def diff_stats(lines: list[DiffLine]) -> tuple[int, int]:
    return sum(1 for d in lines if d.kind == "add"), sum(1 for d in lines if d.kind == "del")
