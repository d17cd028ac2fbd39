"""Compiling a CEL condition without letting it take the process down (plain Python, no Django).

The Rust-backed `cel` library recurses over an expression's tree. Two failure modes escape
an ordinary `except Exception`:
- a parser or interpreter panic surfaces as pyo3's PanicException, which derives from
  BaseException (e.g. 20,000 nested calls: "Formatting argument out of range");
- a long chain (`1+1+1...` or `a.b.c...`, a few thousand deep) overflows the native stack:
  a segmentation fault, no exception at all, and the web worker is gone.
So the text is bounded before the library sees it (length, and an estimate of how deeply it
nests that is never below the depth of the parsed tree), and every failure the library can
raise, panics included, becomes a ValueError with a readable message.
"""

from typing import Any

import cel

from governance.policy.limits import MAX_CEL_DEPTH, MAX_CEL_LENGTH

_OPERATOR_CHARS = frozenset("+-*/%!<>=&|?:.")
_TWO_CHAR_OPERATORS = frozenset({"==", "!=", "<=", ">=", "&&", "||"})
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())
_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def is_panic(exc: BaseException) -> bool:
    """pyo3's PanicException (a Rust panic): not an Exception, yet only an error of the call."""
    return type(exc).__name__ == "PanicException"


def _skip_string(source: str, i: int, raw: bool) -> int:
    """Index just past the string literal whose opening quote is at source[i]."""
    quote = source[i]
    delimiter = quote * 3 if source.startswith(quote * 3, i) else quote
    j, n = i + len(delimiter), len(source)
    while j < n:
        if source.startswith(delimiter, j):
            return j + len(delimiter)
        j += 1 if raw or source[j] != "\\" else 2
    return n


def nesting_depth(source: str) -> int:
    """An upper bound on the depth of the expression's tree, from the text alone.

    Every node on a root-to-leaf path is an operator, a call, an index, a selection or a
    literal list/map, and each of those leaves a token in the text: within one bracketed
    group (between commas) the path can use at most every operator of that element, plus
    the deepest group nested inside it. Counting every operator character over-estimates
    (`a == b` counts once, `1.5` counts its dot), which only makes the bound safer."""
    # Per open group: [operators in the current element, deepest group in it, best element].
    stack: list[list[int]] = [[0, 0, 0]]
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in "'\"":
            k = i
            while k > 0 and source[k - 1] in _IDENT:
                k -= 1
            prefix = source[k:i].lower()
            i = _skip_string(source, i, raw="r" in prefix and len(prefix) <= 2)
            continue
        if ch in _OPEN:
            stack[-1][0] += 1  # the call, index, list or map itself
            stack.append([0, 0, 0])
        elif ch in _CLOSE or ch == ",":
            group = stack[-1]
            group[2] = max(group[2], group[0] + group[1])
            group[0] = group[1] = 0
            if ch in _CLOSE and len(stack) > 1:
                stack.pop()
                stack[-1][1] = max(stack[-1][1], group[2] + 1)
        elif ch in _OPERATOR_CHARS:
            stack[-1][0] += 1
            if source[i : i + 2] in _TWO_CHAR_OPERATORS:
                i += 1
        elif ch in _IDENT:
            start = i
            while i < n and source[i] in _IDENT:
                i += 1
            if source[start:i] == "in":
                stack[-1][0] += 1
            continue
        i += 1
    # Close groups left open (the compiler rejects such text anyway), then the whole.
    while len(stack) > 1:
        group = stack.pop()
        stack[-1][1] = max(stack[-1][1], max(group[2], group[0] + group[1]) + 1)
    root = stack[0]
    return max(root[2], root[0] + root[1]) + 1


def cel_compile(source: str) -> tuple[Any, frozenset[str]]:
    """(program, variables it reads), or ValueError saying why the text cannot be one."""
    if len(source) > MAX_CEL_LENGTH:
        raise ValueError(f"CEL expression is {len(source)} characters; the limit is {MAX_CEL_LENGTH}")
    depth = nesting_depth(source)
    if depth > MAX_CEL_DEPTH:
        raise ValueError(
            f"CEL expression nests too deeply (about {depth} levels of operators and brackets; "
            f"the limit is {MAX_CEL_DEPTH}): split it into several conditions"
        )
    try:
        program = cel.compile(source)
        variables = frozenset(program.variables())
    except Exception as exc:  # ValueError, TypeError, RuntimeError, RecursionError, ...
        raise ValueError(f"CEL does not compile: {_first_line(exc)}") from None
    except BaseException as exc:
        if not is_panic(exc):
            raise  # KeyboardInterrupt, SystemExit: not ours to swallow
        raise ValueError(f"CEL does not compile: the CEL parser failed ({_first_line(exc)})") from None
    return program, variables


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"
