"""Resource facts (plain Python, no Django): what people know about a resource, as policy input.

A facts document is `{"facts": [{"resource": GLOB, KEY: VALUE, ...}, ...]}`. For a request on
resource R, the CEL variable `facts` is the merge of every entry whose pattern matches R.

Which entry wins a key two matching entries both set: the MORE SPECIFIC pattern, that is
  1. a pattern without wildcards (an exact resource name) beats any glob;
  2. between globs, the one with more literal (non-wildcard) characters wins;
  3. then the one with fewer wildcards (`*`, `?`, `[...]`);
  4. then the entry that comes later in the file.
So `db:replica-7` beats `db:replica-*`, which beats `db:*`, which beats `*`.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from governance.policy.globs import CharSet, glob_matcher, parse_glob

KEY_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
RESERVED = frozenset({"resource"})
MAX_FACTS = 20_000
MAX_RESOURCE = 500
MAX_TEXT = 2_000
MAX_KEYS = 32


class FactsError(ValueError):
    """An invalid facts document; the message names the entry (facts[i] (pattern)) and why."""


@dataclass(frozen=True)
class FactEntry:
    """One validated entry: its pattern, its keys, and how specific the pattern is."""

    resource: str
    values: dict
    position: int
    literal: bool = field(init=False)
    specificity: tuple = field(init=False)
    matches: object = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        glob = parse_glob(self.resource)
        tokens = [t for segment in glob.segments for t in segment]
        literal_chars = sum(1 for t in tokens if isinstance(t, str))
        wildcards = (len(glob.segments) - 1) + sum(1 for t in tokens if t is None or isinstance(t, CharSet))
        object.__setattr__(self, "literal", glob.literal)
        object.__setattr__(self, "specificity", (1 if glob.literal else 0, literal_chars, -wildcards, self.position))
        object.__setattr__(self, "matches", glob_matcher(self.resource))

    def as_dict(self) -> dict:
        return {"resource": self.resource, **self.values}


def literal_prefix(pattern: str) -> str:
    """The characters before the first wildcard: every match starts with them."""
    glob = parse_glob(pattern)
    prefix = []
    for token in glob.segments[0]:
        if not isinstance(token, str):
            break
        prefix.append(token)
    return "".join(prefix)


def _check_value(value: Any, where: str) -> Any:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise FactsError(f"{where}: longer than {MAX_TEXT} characters")
        return value
    if isinstance(value, list) and all(isinstance(v, str | bool | int | float) for v in value) and len(value) <= 100:
        return list(value)
    raise FactsError(f"{where}: a value must be a string, number, boolean or a short list of those")


def validate_facts(document: Any) -> list[FactEntry]:
    """The document's entries, validated, in file order; FactsError naming the entry if not."""
    if document is None:
        document = {"facts": []}
    if not isinstance(document, dict) or set(document) - {"facts"}:
        raise FactsError("the document must be a mapping with one key, facts: [...]")
    items = document.get("facts") or []
    if not isinstance(items, list):
        raise FactsError("facts: must be a list of entries")
    if len(items) > MAX_FACTS:
        raise FactsError(f"facts: at most {MAX_FACTS} entries")
    entries: list[FactEntry] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        label = f"facts[{i}]"
        if not isinstance(item, dict):
            raise FactsError(f"{label}: an entry must be a mapping with a resource")
        resource = item.get("resource")
        if not isinstance(resource, str) or not resource.strip():
            raise FactsError(f"{label}: resource is required (a glob like 'db:replica-7' or 'job:nightly-*')")
        label = f"facts[{i}] ({resource})"
        if len(resource) > MAX_RESOURCE or "\n" in resource:
            raise FactsError(f"{label}: resource must be one line of at most {MAX_RESOURCE} characters")
        if resource in seen:
            raise FactsError(f"{label}: the same pattern as facts[{seen[resource]}]; merge the two entries")
        seen[resource] = i
        values = {}
        for key, value in item.items():
            if key == "resource":
                continue
            if not isinstance(key, str) or not KEY_RE.match(key):
                raise FactsError(f"{label}: key {key!r} must be lowercase letters, digits and _ (a CEL name)")
            values[key] = _check_value(value, f"{label}.{key}")
        if not values:
            raise FactsError(f"{label}: an entry needs at least one fact besides resource")
        if len(values) > MAX_KEYS:
            raise FactsError(f"{label}: at most {MAX_KEYS} keys")
        entries.append(FactEntry(resource, values, i))
    return entries


def facts_document(entries: list[FactEntry]) -> dict:
    """Entries back to the document (file order): what facts_export prints."""
    return {"facts": [e.as_dict() for e in sorted(entries, key=lambda e: e.position)]}


@dataclass(frozen=True)
class FactsInForce:
    """The merged facts for one resource and which patterns contributed them."""

    values: dict
    matched: tuple[str, ...]
    version: int | None = None

    def as_dict(self) -> dict:
        return {"version": self.version, "matched": list(self.matched), "values": self.values}


NO_FACTS = FactsInForce({}, ())


def merge(entries: list[FactEntry], resource: str, version: int | None = None) -> FactsInForce:
    """Merge the entries that match `resource` (candidates may include non-matching globs),
    least specific first so the more specific pattern wins each key."""
    matching = [e for e in entries if e.matches(resource)]
    matching.sort(key=lambda e: e.specificity)
    values: dict = {}
    for entry in matching:
        values.update(entry.values)
    return FactsInForce(values, tuple(e.resource for e in reversed(matching)), version)


class FactBook:
    """A whole facts document compiled for lookups in memory (chaos runs, tests): exact names
    in a dict, globs in a list."""

    def __init__(self, entries: list[FactEntry], version: int | None = None):
        self.version = version
        self.entries = entries
        self.exact = {e.resource: e for e in entries if e.literal}
        self.globs = [e for e in entries if not e.literal]

    def lookup(self, resource: str) -> FactsInForce:
        candidates = list(self.globs)
        if resource in self.exact:
            candidates.append(self.exact[resource])
        return merge(candidates, resource, self.version)


def summary(facts: dict) -> str:
    """One line for a card: 'payments-failover, protected, scheduled — silent failover target'."""
    parts = []
    for key, value in facts.items():
        if key == "note":
            continue
        if value is True:
            parts.append(key)
        elif value is False or value in ("", None):
            continue
        else:
            parts.append(str(value) if key == "role" else f"{key}: {value}")
    text = ", ".join(parts)
    if facts.get("note"):
        text = f"{text} — {facts['note']}" if text else str(facts["note"])
    return text
