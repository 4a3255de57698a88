"""Kubernetes label selectors: parse them, build them, match label sets against them.

Two ways in, one :class:`Selector` out:

* :func:`parse` reads the string syntax of ``kubectl -l`` and the API's ``labelSelector`` query
  parameter: comma-separated requirements, all of which must hold::

      app=nginx                  # also app==nginx
      tier!=frontend             # true when tier is absent, too
      env in (prod, staging)
      env notin (dev)            # true when env is absent, too
      release                    # the key exists
      !canary                    # the key does not exist
      replicas>2, replicas<10    # integer comparisons (false when the value is not an integer)

  The empty string selects everything.

* :func:`selector_from_label_selector` converts the API's ``LabelSelector`` object
  (``{"matchLabels": {...}, "matchExpressions": [{"key", "operator", "values"}]}`` with operators
  In, NotIn, Exists, DoesNotExist). Like ``metav1.LabelSelectorAsSelector``, an empty selector
  ``{}`` selects everything and ``None`` selects nothing.

:func:`selector_from_set` builds the equality selector of a label dict, :func:`everything` and
:func:`nothing` the two trivial ones. ``str(selector)`` is the canonical string (requirements sorted by
key, ``in`` values sorted), which the API server accepts back.

Keys are validated as qualified names (an optional DNS-subdomain prefix and ``/``, then at most 63
characters of ``[A-Za-z0-9._-]`` starting and ending alphanumeric) and values as label values (the
same, possibly empty). Anything malformed raises :class:`SelectorError`, a ``ValueError``, whose
message names the problem and the selector. Nothing here suspends or holds state; selectors are
immutable and safe to share between threads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pycontroller.errors import PyControllerError

__all__ = [
    "Requirement",
    "Selector",
    "SelectorError",
    "as_selector",
    "everything",
    "nothing",
    "parse",
    "selector_from_label_selector",
    "selector_from_set",
]

IN: Final = "in"
NOT_IN: Final = "notin"
EQUALS: Final = "="
DOUBLE_EQUALS: Final = "=="
NOT_EQUALS: Final = "!="
EXISTS: Final = "exists"
DOES_NOT_EXIST: Final = "!"
GREATER_THAN: Final = "gt"
LESS_THAN: Final = "lt"

# Canonical operator objects, so matching can compare by identity.
_OPERATORS = {
    op: op
    for op in (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN)
}

_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_INT_RE = re.compile(r"[-+]?[0-9]+\Z")


class SelectorError(PyControllerError, ValueError):
    """A label selector that cannot be parsed or is not valid (a bad key, value or operator)."""


def _validate_key(key: str, where: str) -> None:
    if not isinstance(key, str):
        raise SelectorError(f"label key must be a string, got {type(key).__name__} {where}")
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix or len(prefix) > 253 or not all(_DNS_LABEL_RE.match(p) for p in prefix.split(".")):
            raise SelectorError(
                f"invalid label key {key!r} {where}: the prefix must be a DNS subdomain "
                "(lowercase alphanumerics, '-' and '.', at most 253 characters)"
            )
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        raise SelectorError(
            f"invalid label key {key!r} {where}: the name part must be 1-63 characters of "
            "[A-Za-z0-9._-], starting and ending with an alphanumeric character"
        )


def _validate_value(value: str, where: str) -> None:
    if not isinstance(value, str):
        raise SelectorError(f"label value must be a string, got {type(value).__name__} {where}")
    if value and (len(value) > 63 or not _NAME_RE.match(value)):
        raise SelectorError(
            f"invalid label value {value!r} {where}: must be empty or 1-63 characters of "
            "[A-Za-z0-9._-], starting and ending with an alphanumeric character"
        )


class Requirement:
    """One condition on one label key: ``key``, ``operator`` and the ``values`` it compares with.

    ``operator`` is one of ``"in"``, ``"notin"``, ``"="``, ``"=="``, ``"!="``, ``"exists"``,
    ``"!"`` (does not exist), ``"gt"``, ``"lt"``. Validated when built (raises :class:`SelectorError`).
    """

    __slots__ = ("_int", "key", "operator", "values")

    def __init__(self, key: str, operator: str, values: Iterable[str] = ()) -> None:
        where = f"in requirement on {key!r}"
        _validate_key(key, where)
        canonical = _OPERATORS.get(operator) if isinstance(operator, str) else None
        if canonical is None:
            raise SelectorError(f"unknown operator {operator!r} {where}")
        operator = canonical
        vals = frozenset(values)
        for v in vals:
            _validate_value(v, where)
        self._int = 0
        if operator in (IN, NOT_IN):
            if not vals:
                raise SelectorError(f"operator {operator!r} needs at least one value {where}")
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                raise SelectorError(f"operator {operator!r} needs exactly one value {where}")
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                raise SelectorError(f"operator {operator!r} takes no values {where}")
        else:
            if len(vals) != 1 or not _INT_RE.match(next(iter(vals))):
                raise SelectorError(f"operator {operator!r} needs exactly one integer value {where}")
            self._int = int(next(iter(vals)))
        self.key = key
        self.operator = operator
        self.values: frozenset[str] = vals

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfies this requirement. Never raises for a dict of strings."""
        op = self.operator
        value = labels.get(self.key)
        if op is IN or op is EQUALS or op is DOUBLE_EQUALS:
            return value is not None and value in self.values
        if op is NOT_IN or op is NOT_EQUALS:
            return value is None or value not in self.values
        if op is EXISTS:
            return value is not None
        if op is DOES_NOT_EXIST:
            return value is None
        if value is None or not _INT_RE.match(value):
            return False
        return int(value) > self._int if op is GREATER_THAN else int(value) < self._int

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({','.join(sorted(self.values))})"
        (value,) = self.values
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{value}"

    def __repr__(self) -> str:
        return f"Requirement({self.key!r}, {self.operator!r}, {sorted(self.values)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Requirement):
            return NotImplemented
        return (self.key, self.operator, self.values) == (other.key, other.operator, other.values)

    def __hash__(self) -> int:
        return hash((self.key, self.operator, self.values))


class Selector:
    """A conjunction of :class:`Requirement`; ``matches(labels)`` is true when all of them hold.

    Build one with :func:`parse`, :func:`selector_from_set`, :func:`selector_from_label_selector`,
    :func:`everything` or :func:`nothing`. Immutable.
    """

    __slots__ = ("_nothing", "requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, _nothing: bool = False) -> None:
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = _nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether a label set (``None`` counts as no labels) satisfies every requirement."""
        if self._nothing:
            return False
        if labels is None:
            labels = {}
        for requirement in self.requirements:
            if not requirement.matches(labels):
                return False
        return True

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        """Whether the labels of a Kubernetes object (``metadata.labels``) satisfy the selector."""
        meta = obj.get("metadata")
        return self.matches(meta.get("labels") if isinstance(meta, Mapping) else None)

    def empty(self) -> bool:
        """True for the selector that selects everything."""
        return not self.requirements and not self._nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        if self._nothing:
            return "Selector(<nothing>)"
        return f"Selector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selector):
            return NotImplemented
        return (self.requirements, self._nothing) == (other.requirements, other._nothing)

    def __hash__(self) -> int:
        return hash((self.requirements, self._nothing))


_EVERYTHING = Selector()
_NOTHING = Selector(_nothing=True)


def everything() -> Selector:
    """The selector that matches every label set (its string form is ``""``)."""
    return _EVERYTHING


def nothing() -> Selector:
    """The selector that matches no label set."""
    return _NOTHING


def selector_from_set(labels: Mapping[str, str]) -> Selector:
    """The selector requiring every ``key=value`` of ``labels`` (empty mapping: everything)."""
    return Selector(Requirement(k, EQUALS, (v,)) for k, v in labels.items())


# -- the string syntax ---------------------------------------------------------------------------

_SPECIAL = "!=<>(),"
_TOKEN_RE = re.compile(r"\s*(?:(!=|==|[!=<>(),])|([^\s!=<>(),]+))")


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """Tokens as (kind, text, position); kind is the symbol itself, "id", "in", "notin" or "end"."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    n = len(text)
    while True:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            rest = text[pos:]
            if rest.strip():  # pragma: no cover - the regex accepts every non-space character
                raise SelectorError(f"unexpected character at position {pos} in selector {text!r}")
            tokens.append(("end", "", n))
            return tokens
        symbol, word = m.group(1), m.group(2)
        start = m.start(1) if symbol else m.start(2)
        if symbol:
            tokens.append((symbol, symbol, start))
        else:
            kind = word if word in (IN, NOT_IN) else "id"
            tokens.append((kind, word, start))
        pos = m.end()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def next(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        if tok[0] != "end":
            self.i += 1
        return tok

    def fail(self, tok: tuple[str, str, int], expected: str) -> SelectorError:
        found = "end of string" if tok[0] == "end" else repr(tok[1])
        return SelectorError(
            f"unable to parse label selector {self.text!r}: found {found} at position {tok[2]}, "
            f"expected: {expected}"
        )

    def parse(self) -> Selector:
        requirements: list[Requirement] = []
        if self.peek()[0] == "end":
            return _EVERYTHING
        while True:
            tok = self.peek()
            if tok[0] not in ("id", "!"):
                raise self.fail(tok, "'!' or a label key")
            requirements.append(self.requirement())
            tok = self.next()
            if tok[0] == "end":
                return Selector(requirements)
            if tok[0] != ",":
                raise self.fail(tok, "',' or end of string")

    def requirement(self) -> Requirement:
        tok = self.next()
        negated = tok[0] == "!"
        if negated:
            tok = self.next()
        if tok[0] != "id":
            raise self.fail(tok, "a label key")
        key = tok[1]
        where = f"in label selector {self.text!r}"
        _validate_key(key, where)
        if negated:
            return Requirement(key, DOES_NOT_EXIST)
        if self.peek()[0] in (",", "end"):
            return Requirement(key, EXISTS)
        op_tok = self.next()
        kind = op_tok[0]
        if kind in (IN, NOT_IN):
            return self._checked(key, kind, self.value_list())
        if kind in ("=", "==", "!="):
            return self._checked(key, kind, (self.single_value(),))
        if kind in (">", "<"):
            value = self.single_value()
            if not _INT_RE.match(value):
                raise SelectorError(
                    f"unable to parse label selector {self.text!r}: {key}{kind} needs an integer, "
                    f"got {value!r}"
                )
            return self._checked(key, GREATER_THAN if kind == ">" else LESS_THAN, (value,))
        raise self.fail(op_tok, "one of 'in', 'notin', '=', '==', '!=', '>', '<'")

    def _checked(self, key: str, op: str, values: Iterable[str]) -> Requirement:
        try:
            return Requirement(key, op, values)
        except SelectorError as exc:
            raise SelectorError(f"{exc} (in label selector {self.text!r})") from None

    def single_value(self) -> str:
        tok = self.peek()
        if tok[0] in (",", "end"):
            return ""  # "key=" selects the empty value, as in Kubernetes
        if tok[0] != "id":
            raise self.fail(tok, "a label value")
        self.next()
        return tok[1]

    def value_list(self) -> list[str]:
        tok = self.next()
        if tok[0] != "(":
            raise self.fail(tok, "'('")
        values: list[str] = []
        while True:
            tok = self.next()
            if tok[0] == "id":
                values.append(tok[1])
                tok = self.next()
            else:
                values.append("")  # "(a,)" and "()" carry an empty value, as in Kubernetes
            if tok[0] == ")":
                return values
            if tok[0] != ",":
                raise self.fail(tok, "',' or ')'")


def parse(text: str) -> Selector:
    """Parse a selector in Kubernetes string syntax; ``""`` selects everything.

    Raises :class:`SelectorError` (a ``ValueError``) naming the offending token and position.
    """
    if not isinstance(text, str):
        raise TypeError(f"a label selector string is expected, got {type(text).__name__}")
    return _Parser(text).parse()


# -- the LabelSelector object ----------------------------------------------------------------------

_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def selector_from_label_selector(label_selector: Mapping[str, Any] | None) -> Selector:
    """Convert a ``metav1.LabelSelector`` dict (``matchLabels``, ``matchExpressions``).

    ``None`` selects nothing and ``{}`` everything, as in Kubernetes. Operators are In, NotIn (at least
    one value), Exists and DoesNotExist (no values). Raises :class:`SelectorError` otherwise.
    """
    if label_selector is None:
        return _NOTHING
    if not isinstance(label_selector, Mapping):
        raise TypeError(f"a LabelSelector mapping is expected, got {type(label_selector).__name__}")
    requirements: list[Requirement] = []
    match_labels = label_selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError(f"matchLabels must be a mapping, got {type(match_labels).__name__}")
    for key, value in match_labels.items():
        requirements.append(Requirement(key, EQUALS, (value,)))
    expressions = label_selector.get("matchExpressions") or []
    if not isinstance(expressions, list | tuple):
        raise SelectorError(f"matchExpressions must be a list, got {type(expressions).__name__}")
    for expression in expressions:
        if not isinstance(expression, Mapping) or "key" not in expression:
            raise SelectorError(f"a matchExpressions entry needs a key and an operator: {expression!r}")
        operator = expression.get("operator")
        op = _EXPRESSION_OPERATORS.get(operator) if isinstance(operator, str) else None
        if op is None:
            raise SelectorError(
                f"{operator!r} is not a valid label selector operator for key {expression['key']!r}; "
                "use In, NotIn, Exists or DoesNotExist"
            )
        values = expression.get("values") or ()
        if isinstance(values, str):
            raise SelectorError(f"values of key {expression['key']!r} must be a list, not a string")
        requirements.append(Requirement(expression["key"], op, values))
    return Selector(requirements)


def as_selector(selector: Selector | str | Mapping[str, Any] | None) -> Selector:
    """Coerce what APIs accept as a selector: a :class:`Selector`; a string (parsed); a mapping,
    read as a ``LabelSelector`` when it has ``matchLabels``/``matchExpressions`` and as a label set
    otherwise; ``None`` meaning everything (no selector given)."""
    if selector is None:
        return _EVERYTHING
    if isinstance(selector, Selector):
        return selector
    if isinstance(selector, str):
        return parse(selector)
    if isinstance(selector, Mapping):
        if "matchLabels" in selector or "matchExpressions" in selector:
            return selector_from_label_selector(selector)
        return selector_from_set(selector)
    raise TypeError(f"cannot use a {type(selector).__name__} as a label selector")
