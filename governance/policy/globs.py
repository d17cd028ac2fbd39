"""Glob patterns ("crm.*", "vendor:?", "db_[!ab]") matched in linear time (plain Python, no Django).

The syntax and answers are those of fnmatch.fnmatchcase: `*` any run of characters, `?` one
character, `[...]`/`[!...]` one character in/not in a set, everything else literal, case
sensitive, newlines included. What differs is how: a pattern is split on `*` into fixed-length
segments and each segment is placed at its leftmost fit, in order. That is correct (a leftmost
fit leaves the most room for the segments after it) and costs at most O(len(value) x
len(pattern)) steps, with no backtracking: an envelope author (or an attacker with the
editor) cannot write a pattern that makes matching exponential, as a translation into a
backtracking regular expression could (`*a*a*a*a*a*b` against a long run of a's).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import translate
from functools import lru_cache

ANY = None  # the token of "?": any one character


@dataclass(frozen=True)
class CharSet:
    """One `[...]` of the pattern: decided by fnmatch's own translation of that bracket
    expression, a regular expression of exactly one character (no repetition, so nothing
    to backtrack over)."""

    text: str

    def __post_init__(self):
        object.__setattr__(self, "_test", re.compile(translate(self.text)).match)

    def __call__(self, char: str) -> bool:
        return self._test(char) is not None


Token = str | CharSet | None  # a literal character, a set, or ANY


@dataclass(frozen=True)
class Glob:
    """A pattern parsed once: the segments between its stars, and whether it has any."""

    pattern: str
    segments: tuple[tuple[Token, ...], ...]
    starred: bool
    # Each segment as a plain string when it is all literals (str.startswith, str.find apply).
    texts: tuple[str | None, ...]

    @property
    def literal(self) -> bool:
        """No wildcard at all: the pattern matches only itself."""
        return not self.starred and all(isinstance(t, str) for t in self.segments[0])

    @property
    def has_sets(self) -> bool:
        return any(isinstance(t, CharSet) for segment in self.segments for t in segment)


def _bracket_end(pattern: str, i: int) -> int:
    """Index of the `]` closing the set opened at pattern[i - 1], or -1: fnmatch's scan."""
    j, n = i, len(pattern)
    if j < n and pattern[j] == "!":
        j += 1
    if j < n and pattern[j] == "]":
        j += 1
    while j < n and pattern[j] != "]":
        j += 1
    return j if j < n else -1


@lru_cache(maxsize=4096)
def parse_glob(pattern: str) -> Glob:
    segments: list[tuple[Token, ...]] = []
    current: list[Token] = []
    starred = False
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            starred = True
            segments.append(tuple(current))
            current = []
            while i < n and pattern[i] == "*":  # consecutive stars are one star
                i += 1
        elif ch == "?":
            current.append(ANY)
        elif ch == "[":
            end = _bracket_end(pattern, i)
            if end < 0:
                current.append("[")  # an unclosed bracket is a literal, as in fnmatch
            else:
                current.append(CharSet(pattern[i - 1 : end + 1]))
                i = end + 1
        else:
            current.append(ch)
    segments.append(tuple(current))
    return Glob(pattern, tuple(segments), starred, tuple(_text(s) for s in segments))


def _fits(segment: tuple[Token, ...], text: str | None, value: str, at: int) -> bool:
    """Does segment match value[at:at + len(segment)] (which the caller keeps in range)?"""
    if text is not None:
        return value.startswith(text, at)
    for k, token in enumerate(segment):
        char = value[at + k]
        if token is ANY:
            continue
        if isinstance(token, str):
            if token != char:
                return False
        elif not token(char):
            return False
    return True


def _find(segment: tuple[Token, ...], text: str | None, value: str, start: int, stop: int) -> int:
    """Leftmost position p in [start, stop - len(segment)] where segment fits, or -1."""
    if text is not None:
        return value.find(text, start, stop)
    for at in range(start, stop - len(segment) + 1):
        if _fits(segment, None, value, at):
            return at
    return -1


def _text(segment: tuple[Token, ...]) -> str | None:
    """The segment as a plain string when it is all literals (str.find and friends apply)."""
    return "".join(segment) if all(isinstance(t, str) for t in segment) else None


def glob_match(value: str, pattern: str | Glob) -> bool:
    """fnmatchcase(value, pattern), in at most O(len(value) x len(pattern)) steps."""
    glob = parse_glob(pattern) if isinstance(pattern, str) else pattern
    segments, texts = glob.segments, glob.texts
    first, n = segments[0], len(value)
    if not glob.starred:
        return len(first) == n and _fits(first, texts[0], value, 0)
    last = segments[-1]
    stop = n - len(last)
    if len(first) > stop or not _fits(first, texts[0], value, 0) or not _fits(last, texts[-1], value, stop):
        return False
    pos = len(first)
    for segment, text in zip(segments[1:-1], texts[1:-1], strict=True):
        found = _find(segment, text, value, pos, stop)
        if found < 0:
            return False
        pos = found + len(segment)
    return True


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """A one-argument test equivalent to fnmatchcase(value, pattern), parsed once."""
    glob = parse_glob(pattern)
    if glob.literal:
        return pattern.__eq__
    if len(glob.segments) == 2 and None not in glob.texts:
        # The usual shape, "vendor:*" or "crm.*.read": one star between two literals.
        prefix, suffix = glob.texts
        least = len(prefix) + len(suffix)
        return lambda value: len(value) >= least and value.startswith(prefix) and value.endswith(suffix)
    return lambda value: glob_match(value, glob)
