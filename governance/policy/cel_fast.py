"""A fast answer for the simplest CEL conditions, without handing the request to CEL.

Converting a request's `params` or `context` into CEL values costs ~10 µs per decision, many
times what evaluating `params.amount > 10000` costs. Most envelope conditions are that
simple: a field, a comparison with a literal, `has()`, `in`, startsWith/endsWith/contains,
joined by `&&`, `||` and `!`. compile_fast() turns such a condition into a Python function
that returns CEL's answer when it is certain of it, and UNKNOWN otherwise (a missing key, a
float where an int literal is compared, an int beyond int64, any type pairing it does not
model): the engine then runs the real CEL program, which also reports the error. Anything
outside the grammar below is not compiled at all.

    expr   := and ("||" and)*
    and    := unary ("&&" unary)*
    unary  := "!" unary | cmp
    cmp    := term (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") term)?
    term   := literal | "(" expr ")" | "has(" path ")" | path ("." method "(" string ")")?
    path   := ("params" | "context" | "action" | "resource") ("." ident)*

`&&`/`||` follow CEL's error absorption: false && <anything> is false, true || <anything> is
true, whichever side could not be decided. convertible() tells whether CEL could take the
variables at all (a string with a lone surrogate cannot): when not, the engine takes the CEL
path so the failure is the same as before.
"""

import re
from collections.abc import Callable
from typing import Any

UNKNOWN = object()
FAST_VARIABLES = frozenset({"params", "context", "action", "resource"})
INT64 = (-(2**63), 2**63 - 1)
Fast = Callable[[dict], Any]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+)(?![\w.])|(?P<str>'[^'\\\n]*'|\"[^\"\\\n]*\")|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\|\||&&|==|!=|<=|>=|[<>!().]))"
)
_METHODS = {"startsWith": str.startswith, "endsWith": str.endswith, "contains": str.__contains__}


class _NotFast(Exception):
    """The condition is outside the grammar: no fast function."""


def _tokens(source: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    source = source.rstrip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m or m.end() == pos:
            raise _NotFast(source[pos:])
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


def _is_int(v: Any) -> bool:
    return type(v) is int and INT64[0] <= v <= INT64[1]


def _cel_type(v: Any) -> type | None:
    """Python type standing for a CEL type this module compares exactly, or None."""
    if type(v) is str or type(v) is bool:
        return type(v)
    if _is_int(v):
        return int
    return None


def _eq(a: Any, b: Any) -> Any:
    ta, tb = _cel_type(a), _cel_type(b)
    if ta is None or tb is None or ta is not tb:
        return UNKNOWN  # CEL has its own heterogeneous equality (1 == 1.0, true != 1)
    return a == b


def _order(a: Any, b: Any) -> tuple | None:
    ta, tb = _cel_type(a), _cel_type(b)
    if ta is None or ta is not tb or ta is bool:
        return None
    return a, b


_COMPARE = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        return value is None or self.tokens[self.i][1] == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        if not self.peek(value):
            raise _NotFast(value or "end")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expr(self) -> Fast:
        left = self.conj()
        while self.peek("||"):
            self.take()
            left = _or(left, self.conj())
        return left

    def conj(self) -> Fast:
        left = self.unary()
        while self.peek("&&"):
            self.take()
            left = _and(left, self.unary())
        return left

    def unary(self) -> Fast:
        if self.peek("!"):
            self.take()
            inner = self.unary()

            def negate(values):
                v = inner(values)
                return (not v) if type(v) is bool else UNKNOWN

            return negate
        return self.cmp()

    def cmp(self) -> Fast:
        left = self.term()
        if self.peek() and self.tokens[self.i][1] in ("==", "!=", "<", "<=", ">", ">=", "in"):
            op = self.take()[1]
            right = self.term()
            return _compare(op, left, right)
        return left

    def term(self) -> Fast:
        kind, value = self.take()
        if kind == "num":
            number = int(value)
            if not _is_int(number):
                raise _NotFast(value)
            return lambda values: number
        if kind == "str":
            text = value[1:-1]
            return lambda values: text
        if value == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if kind != "id":
            raise _NotFast(value)
        if value in ("true", "false"):
            flag = value == "true"
            return lambda values: flag
        if value == "has":
            self.take("(")
            var, keys = self.path(self.take()[1])
            self.take(")")
            if not keys:
                raise _NotFast("has() needs a field")
            return _has(var, keys)
        var, keys = self.path(value)
        if self.peek("("):  # the last name was a method
            method = keys.pop() if keys else None
            if method not in _METHODS:
                raise _NotFast(str(method))
            self.take("(")
            kind, arg = self.take()
            if kind != "str":
                raise _NotFast(arg)
            self.take(")")
            return _method(_select(var, keys), _METHODS[method], arg[1:-1])
        return _select(var, keys)

    def path(self, var: str) -> tuple[str, list[str]]:
        if var not in FAST_VARIABLES:
            raise _NotFast(var)
        keys = []
        while self.peek("."):
            self.take()
            kind, name = self.take()
            if kind != "id":
                raise _NotFast(name)
            keys.append(name)
        return var, keys


def _select(var: str, keys: list[str]) -> Fast:
    keys = tuple(keys)

    def select(values):
        cur = values[var]
        for key in keys:
            if type(cur) is not dict or key not in cur:
                return UNKNOWN  # CEL: no such key (an error) or a select on a non-map
            cur = cur[key]
        return cur

    return select


def _has(var: str, keys: list[str]) -> Fast:
    parent, last = _select(var, keys[:-1]), keys[-1]

    def has(values):
        cur = parent(values)
        return last in cur if type(cur) is dict else UNKNOWN

    return has


def _method(receiver: Fast, method: Callable[[str, str], bool], arg: str) -> Fast:
    def call(values):
        v = receiver(values)
        return method(v, arg) if type(v) is str else UNKNOWN

    return call


def _compare(op: str, left: Fast, right: Fast) -> Fast:
    if op in ("==", "!="):
        negate = op == "!="

        def equal(values):
            result = _eq(left(values), right(values))
            return result if result is UNKNOWN else result != negate

        return equal
    if op == "in":

        def contains(values):
            item, container = left(values), right(values)
            if type(item) is not str:
                return UNKNOWN
            if type(container) is dict:
                return item in container
            if type(container) is list and all(type(x) is str for x in container):
                return item in container
            return UNKNOWN

        return contains
    test = _COMPARE[op]

    def ordered(values):
        pair = _order(left(values), right(values))
        return UNKNOWN if pair is None else test(*pair)

    return ordered


def _and(left: Fast, right: Fast) -> Fast:
    def conj(values):
        a = left(values)
        if a is False:
            return False
        b = right(values)
        if b is False:
            return False  # CEL: <error or unknown> && false is false
        if a is True and b is True:
            return True
        return UNKNOWN

    return conj


def _or(left: Fast, right: Fast) -> Fast:
    def disj(values):
        a = left(values)
        if a is True:
            return True
        b = right(values)
        if b is True:
            return True  # CEL: <error or unknown> || true is true
        if a is False and b is False:
            return False
        return UNKNOWN

    return disj


def compile_fast(source: str) -> Fast | None:
    """fast(values) -> True/False exactly as CEL would answer, or UNKNOWN; None when the
    condition is outside this module's grammar (always run CEL then)."""
    try:
        parser = _Parser(_tokens(source))
        fast = parser.expr()
        if parser.i != len(parser.tokens):
            return None
    except _NotFast:
        return None
    return fast


def convertible(value: Any) -> bool:
    """Would CEL take this JSON value? Only JSON types are vouched for; a string must be valid
    Unicode text (a lone surrogate cannot be converted). False means: let CEL try."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif t is dict:
            for k, item in v.items():
                if type(k) is not str:
                    return False
                stack.append(k)
                stack.append(item)
        elif t is list:
            stack.extend(v)
        elif not (t is int or t is float or t is bool or v is None):
            return False
    return True
