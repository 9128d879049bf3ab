"""The small comparison language of a step's `when:` and `until:`: incident fields, labels and kept
values compared with literals, joined by `and`, `or`, `not` and parentheses. Parsed when runbooks.yml is
loaded; nothing is ever evaluated as code.

    steps.check.lag_seconds < 5
    priority == 'critical' and labels[env] != 'prod'
    not (steps.find.replica matches '^db[0-9]+$')

Numbers compare as numbers when both sides are numbers; otherwise only `==`, `!=` and `matches` (a
regular expression, searched) apply. A name with no value makes the condition undecided
(ConditionError): a `when:` then fails its step, an `until:` keeps polling."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.runbook_inputs import check_input_name, value_of

TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^']*'|\"[^\"]*\")|(?P<number>-?\d+(?:\.\d+)?)(?![A-Za-z_])|(?P<op>==|!=|<=|>=|<|>)"
    r"|(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_.\-]*(?:\[[A-Za-z0-9_.\-/]{1,100}\])?))"
)
ORDER: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
KEYWORDS = frozenset({"and", "or", "not", "matches", "true", "false"})
MAX_CONDITION_CHARS = 1000


class ConditionError(ValueError):
    """A condition that does not parse (at load), or cannot be decided (at run time)."""


@dataclass(frozen=True)
class Operand:
    literal: str | None = None
    name: str | None = None  # a reference, looked up in the step's scope

    def value(self, scope: Mapping[str, Any]) -> str:
        if self.literal is not None:
            return self.literal
        assert self.name is not None
        found = value_of(self.name, scope)
        if found is None:
            raise ConditionError(f"{self.name} has no value")
        return found


@dataclass(frozen=True)
class Compare:
    left: Operand
    op: str | None = None  # None: the left side alone, true unless empty, 0 or false
    right: Operand | None = None

    def holds(self, scope: Mapping[str, Any]) -> bool:
        left = self.left.value(scope)
        if self.op is None:
            return left.lower() not in ("", "0", "false")
        assert self.right is not None
        right = self.right.value(scope)
        if self.op == "matches":
            return re.search(right, left) is not None
        numbers = _number(left), _number(right)
        if self.op in ("==", "!="):
            same = numbers[0] == numbers[1] if None not in numbers else left == right
            return same if self.op == "==" else not same
        if numbers[0] is None or numbers[1] is None:
            raise ConditionError(f"{left!r} {self.op} {right!r}: only numbers are ordered")
        return ORDER[self.op](numbers[0], numbers[1])


@dataclass(frozen=True)
class Junction:
    kind: str  # "and", "or", "not"
    parts: tuple[Node, ...]

    def holds(self, scope: Mapping[str, Any]) -> bool:
        if self.kind == "not":
            return not self.parts[0].holds(scope)
        if self.kind == "and":
            return all(part.holds(scope) for part in self.parts)
        return any(part.holds(scope) for part in self.parts)


Node = Compare | Junction


def _number(text: str) -> float | None:
    try:
        return float(text) if re.fullmatch(r"-?\d+(\.\d+)?", text.strip()) else None
    except ValueError:
        return None


class Condition:
    """A parsed condition; `references` are the names it reads (checked by the runbook's load)."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_CONDITION_CHARS:
            raise ConditionError(f"longer than {MAX_CONDITION_CHARS} characters")
        self.text = text
        self._tokens = _tokenize(text)
        self._at = 0
        self.references: list[str] = []
        self.tree = self._or()
        if self._at != len(self._tokens):
            raise ConditionError(f"unexpected {self._tokens[self._at][1]!r}")

    def holds(self, scope: Mapping[str, Any]) -> bool:
        return self.tree.holds(scope)

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ConditionError("ends too early")
        self._at += 1
        return token

    def _or(self) -> Node:
        parts = [self._and()]
        while self._peek() == ("word", "or"):
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else Junction("or", tuple(parts))

    def _and(self) -> Node:
        parts = [self._not()]
        while self._peek() == ("word", "and"):
            self._take()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))

    def _not(self) -> Node:
        if self._peek() == ("word", "not"):
            self._take()
            return Junction("not", (self._not(),))
        if self._peek() == ("paren", "("):
            self._take()
            inner = self._or()
            if self._take() != ("paren", ")"):
                raise ConditionError("a '(' is not closed")
            return inner
        left = self._operand()
        token = self._peek()
        if token is not None and (token[0] == "op" or token == ("word", "matches")):
            op = self._take()[1]
            right = self._operand()
            if op == "matches":
                if right.literal is None:
                    raise ConditionError("matches takes a quoted regular expression")
                try:
                    re.compile(right.literal)
                except re.error as exc:
                    raise ConditionError(f"not a valid regular expression: {exc}") from None
            return Compare(left, op, right)
        return Compare(left)

    def _operand(self) -> Operand:
        kind, text = self._take()
        if kind == "string":
            return Operand(literal=text[1:-1])
        if kind == "number":
            return Operand(literal=text)
        if kind == "word" and text in ("true", "false"):
            return Operand(literal=text)
        if kind == "word" and text not in KEYWORDS:
            try:
                check_input_name(text)
            except ValueError as exc:
                raise ConditionError(str(exc)) from None
            self.references.append(text)
            return Operand(name=text)
        raise ConditionError(f"expected a name or a value, found {text!r}")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        found = TOKEN.match(text, at)
        if found is None or found.end() == at:
            raise ConditionError(f"cannot read {text[at:].strip()[:20]!r}")
        kind = found.lastgroup
        assert kind is not None
        tokens.append((kind, found.group(kind)))
        at = found.end()
    if not tokens:
        raise ConditionError("empty")
    return tokens


def parse_condition(text: str) -> Condition:
    """A Condition, or ValueError (for pydantic) saying what is wrong."""
    try:
        return Condition(text)
    except ConditionError as exc:
        raise ValueError(f"condition {text!r}: {exc}") from None
