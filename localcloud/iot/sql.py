"""AWS IoT SQL (version 2016-03-23) for the local topic rule engine: parser and evaluator.

`parse(sql)` turns a rule's statement into a `Statement`; `Statement.evaluate(message)` returns
the rule's output for one MQTT message (a JSON object, or the raw payload for `SELECT *` over a
non-JSON payload), or `None` when the topic or the WHERE clause does not match.
`parse_template` (and `Template.render`) handle the `${expression}` substitution templates of action
parameters (Kinesis `PartitionKey`, S3 `Key`).

Supported, following the AWS IoT SQL reference:
- `SELECT` items: `*`, expressions with `AS alias`, field references with nested fields
  (`a.b`) and array indexes (`a[0]`), literals (numbers, 'strings', true, false, null);
- `FROM 'topic/filter'` with MQTT wildcards `+` (one level) and `#` (any remaining levels);
- `WHERE` with `=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`, `AND`, `OR`, `NOT`, `+ - * / %`, parentheses;
- functions `topic()`, `topic(n)`, `clientid()`, `timestamp()`, `newuuid()`,
  `encode(value, 'base64')` (`encode(*, 'base64')` encodes the raw payload), `isUndefined(x)`,
  `isNull(x)`, `parse_time(pattern, ms[, timezone])`.
- Undefined: a field that is not in the payload is Undefined; an Undefined SELECT item is left out
  of the output; comparisons and logic on Undefined give Undefined, and a WHERE clause that is not
  true does not match.
- Binary (non-JSON) payloads: as AWS documents ("Working with binary payloads"), a statement may
  handle a non-JSON payload only if it refers to no JSON names: `SELECT *` alone, or only
  functions such as `encode(*, 'base64')`. If the payload is not JSON and the statement refers to
  a field (in SELECT or WHERE) or combines `*` with other items, evaluation raises
  `PayloadParseError`, the local counterpart of the rule engine's `ParseError` metric: the rule's
  actions do not run for that message.

Differences from AWS
--------------------
- Only SQL version 2016-03-23 semantics; numbers are Python int/float, not 34-digit decimals.
- A SELECT item that is not a plain field reference needs `AS alias` (rejected when parsing).
- Not supported (rejected with an error naming them when parsing): `SET`, `CASE`, `SELECT VALUE`,
  object and array literals, nested-object queries, and every function not listed above
  (e.g. `principal()`, `get_thing_shadow()`, `aws_lambda()`, string and math functions).
- `parse_time` prints with `localcloud.core.java_time` (java.time's letters, English names);
  AWS documents Joda-Time patterns, which agree on the common letters (they differ on `ZZ`).
- A substitution template whose expression is Undefined renders as an empty string.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from localcloud.core import java_time

SQL_VERSION = "2016-03-23"


class SqlError(ValueError):
    """A statement or template the evaluator cannot parse or does not support."""


class PayloadParseError(ValueError):
    """The payload is not JSON but the statement refers to JSON names (AWS's ParseError)."""


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()


@dataclass
class Message:
    """One MQTT message as the rule engine sees it."""

    topic: str
    payload: bytes
    client_id: str = ""
    timestamp_ms: int = 0

    @cached_property
    def document(self) -> Any:
        """The payload as JSON; raises PayloadParseError if it is not JSON."""
        try:
            return json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise PayloadParseError(f"payload is not JSON: {err}") from err

    @property
    def is_json(self) -> bool:
        try:
            self.document  # noqa: B018 (decodes the payload once, cached)
        except PayloadParseError:
            return False
        return True


# ---------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|[=<>*,().\[\]{}:@+\-/%])
    """,
    re.VERBOSE,
)
KEYWORDS = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"}
UNSUPPORTED_KEYWORDS = {"SET", "CASE", "VALUE"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    position: int

    @property
    def value(self) -> Any:
        if self.kind == "string":
            return self.text[1:-1].replace("''", "'")
        if self.kind == "number":
            is_float = any(c in self.text for c in ".eE")
            return float(self.text) if is_float else int(self.text)
        return self.text


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise SqlError(f"unexpected character {text[position]!r} at position {position}")
        kind = match.lastgroup or ""
        if kind == "name" and match.group().upper() in KEYWORDS:
            tokens.append(Token("keyword", match.group().upper(), position))
        elif kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", position))
    return tokens


# ---------------------------------------------------------------------------------------------
# Expressions


class Expr(ABC):
    """An expression node; `evaluate` returns a JSON value or UNDEFINED."""

    @abstractmethod
    def evaluate(self, message: Message) -> Any:
        """The expression's value for one message."""

    def refers_to_json(self) -> bool:
        return False


@dataclass(frozen=True)
class Literal(Expr):
    value: Any

    def evaluate(self, message: Message) -> Any:
        return self.value


@dataclass(frozen=True)
class Star(Expr):
    """`*`: the whole payload (only as a SELECT item or a function argument)."""

    def evaluate(self, message: Message) -> Any:
        return message.document


@dataclass(frozen=True)
class FieldRef(Expr):
    path: tuple[str | int, ...]

    @property
    def default_name(self) -> str:
        names = [part for part in self.path if isinstance(part, str)]
        return names[-1]

    def evaluate(self, message: Message) -> Any:
        value = message.document
        for part in self.path:
            if isinstance(part, int):
                if not isinstance(value, list) or not -len(value) <= part < len(value):
                    return UNDEFINED
                value = value[part]
            else:
                if not isinstance(value, dict) or part not in value:
                    return UNDEFINED
                value = value[part]
        return value

    def refers_to_json(self) -> bool:
        return True


@dataclass(frozen=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]

    def evaluate(self, message: Message) -> Any:
        return FUNCTIONS[self.name.lower()].call(self.args, message)

    def refers_to_json(self) -> bool:
        return any(arg.refers_to_json() for arg in self.args if not isinstance(arg, Star))


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "NOT" or "-"
    operand: Expr

    def evaluate(self, message: Message) -> Any:
        value = self.operand.evaluate(message)
        if self.op == "NOT":
            flag = _as_bool(value)
            return UNDEFINED if flag is None else not flag
        number = _as_number(value)
        return UNDEFINED if number is None else -number

    def refers_to_json(self) -> bool:
        return self.operand.refers_to_json()


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr

    def evaluate(self, message: Message) -> Any:
        return BINARY_OPERATORS[self.op](self.left.evaluate(message), self.right.evaluate(message))

    def refers_to_json(self) -> bool:
        return self.left.refers_to_json() or self.right.refers_to_json()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(value: Any) -> int | float | None:
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _and(left: Any, right: Any) -> Any:
    a, b = _as_bool(left), _as_bool(right)
    return UNDEFINED if a is None or b is None else a and b


def _or(left: Any, right: Any) -> Any:
    a, b = _as_bool(left), _as_bool(right)
    return UNDEFINED if a is None or b is None else a or b


def _equal(left: Any, right: Any) -> Any:
    if left is UNDEFINED or right is UNDEFINED:
        return UNDEFINED
    if _is_number(left) and _is_number(right):
        return left == right
    if type(left) is not type(right):
        return False
    return left == right


def _not_equal(left: Any, right: Any) -> Any:
    result = _equal(left, right)
    return result if result is UNDEFINED else not result


def _ordering(test: Callable[[float, float], bool]) -> Callable[[Any, Any], Any]:
    def compare(left: Any, right: Any) -> Any:
        a, b = _as_number(left), _as_number(right)
        return UNDEFINED if a is None or b is None else test(a, b)

    return compare


def _arithmetic(apply: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def compute(left: Any, right: Any) -> Any:
        a, b = _as_number(left), _as_number(right)
        if a is None or b is None:
            return UNDEFINED
        try:
            return apply(a, b)
        except ZeroDivisionError:
            return UNDEFINED

    return compute


def _divide(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return int(a / b)  # integer division truncates toward zero, as in Java
    return a / b


def _modulo(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        remainder = abs(a) % abs(b)
        return remainder if a >= 0 else -remainder
    return a % b


BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "AND": _and,
    "OR": _or,
    "=": _equal,
    "<>": _not_equal,
    "!=": _not_equal,
    "<": _ordering(lambda a, b: a < b),
    "<=": _ordering(lambda a, b: a <= b),
    ">": _ordering(lambda a, b: a > b),
    ">=": _ordering(lambda a, b: a >= b),
    "+": _arithmetic(lambda a, b: a + b),
    "-": _arithmetic(lambda a, b: a - b),
    "*": _arithmetic(lambda a, b: a * b),
    "/": _arithmetic(_divide),
    "%": _arithmetic(_modulo),
}


# ---------------------------------------------------------------------------------------------
# Functions


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    call: Callable[[tuple[Expr, ...], Message], Any]
    star_allowed: bool = False


def _topic(args: tuple[Expr, ...], message: Message) -> Any:
    if not args:
        return message.topic
    index = _as_number(args[0].evaluate(message))
    levels = message.topic.split("/")
    if not isinstance(index, int) or not 1 <= index <= len(levels):
        return UNDEFINED
    return levels[index - 1]


def _encode(args: tuple[Expr, ...], message: Message) -> Any:
    scheme = args[1].evaluate(message)
    if scheme != "base64":
        return UNDEFINED
    if isinstance(args[0], Star):
        raw = message.payload
    else:
        value = args[0].evaluate(message)
        if value is UNDEFINED:
            return UNDEFINED
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        raw = text.encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def _parse_time(args: tuple[Expr, ...], message: Message) -> Any:
    pattern = args[0].evaluate(message)
    millis = _as_number(args[1].evaluate(message))
    zone_name = args[2].evaluate(message) if len(args) > 2 else "UTC"
    if not isinstance(pattern, str) or millis is None or not isinstance(zone_name, str):
        return UNDEFINED
    try:
        zone = UTC if zone_name.upper() == "UTC" else ZoneInfo(zone_name)
        return java_time.format_pattern(pattern, datetime.fromtimestamp(millis / 1000, tz=zone))
    except (ValueError, ZoneInfoNotFoundError, OverflowError, OSError):
        return UNDEFINED


FUNCTIONS: dict[str, Function] = {
    function.name.lower(): function
    for function in (
        Function("topic", 0, 1, _topic),
        Function("clientid", 0, 0, lambda args, m: m.client_id),
        Function("timestamp", 0, 0, lambda args, m: m.timestamp_ms),
        Function("newuuid", 0, 0, lambda args, m: str(uuid.uuid4())),
        Function("encode", 2, 2, _encode, star_allowed=True),
        Function("isUndefined", 1, 1, lambda args, m: args[0].evaluate(m) is UNDEFINED),
        Function("isNull", 1, 1, lambda args, m: args[0].evaluate(m) is None),
        Function("parse_time", 2, 3, _parse_time),
    )
}


# ---------------------------------------------------------------------------------------------
# Parser


@dataclass(frozen=True)
class SelectItem:
    expr: Expr
    alias: str | None

    @property
    def name(self) -> str:
        if self.alias is not None:
            return self.alias
        assert isinstance(self.expr, FieldRef)
        return self.expr.default_name


@dataclass(frozen=True)
class Statement:
    sql: str
    items: tuple[SelectItem, ...]
    topic_filter: str
    where: Expr | None = None
    star_only: bool = field(init=False)
    needs_json: bool = field(init=False)

    def __post_init__(self) -> None:
        stars = [item for item in self.items if isinstance(item.expr, Star)]
        object.__setattr__(self, "star_only", len(self.items) == 1 and len(stars) == 1)
        needs = any(item.expr.refers_to_json() for item in self.items)
        needs = needs or (bool(stars) and len(self.items) > 1)
        needs = needs or (self.where is not None and self.where.refers_to_json())
        object.__setattr__(self, "needs_json", needs)

    def matches_topic(self, topic: str) -> bool:
        return topic_matches(self.topic_filter, topic)

    def evaluate(self, message: Message) -> dict[str, Any] | bytes | None:
        """The rule's output for `message`; None if the topic or WHERE does not match.

        Raises PayloadParseError for a non-JSON payload when the statement needs JSON.
        """
        if not self.matches_topic(message.topic):
            return None
        if self.needs_json:
            message.document  # noqa: B018 (raises PayloadParseError for a non-JSON payload)
        if self.where is not None and _as_bool(self.where.evaluate(message)) is not True:
            return None
        if self.star_only and not isinstance(_json_or_none(message), dict):
            return message.payload
        output: dict[str, Any] = {}
        for item in self.items:
            if isinstance(item.expr, Star):
                document = message.document
                if isinstance(document, dict):
                    output.update(document)
                continue
            value = item.expr.evaluate(message)
            if value is not UNDEFINED:
                output[item.name] = value
        return output


def _json_or_none(message: Message) -> Any:
    return message.document if message.is_json else None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (text is None or token.text == text)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        return self.advance() if self.at(kind, text) else None

    def expect(self, kind: str, text: str | None = None) -> Token:
        if not self.at(kind, text):
            wanted = text or kind
            found = self.current.text or "the end of the statement"
            raise SqlError(
                f"expected {wanted} at position {self.current.position}, found {found!r}"
            )
        return self.advance()

    def statement(self) -> Statement:
        if self.current.kind == "name" and self.current.text.upper() in UNSUPPORTED_KEYWORDS:
            raise SqlError(f"{self.current.text.upper()} is not supported by the local evaluator")
        self.expect("keyword", "SELECT")
        following = self.tokens[self.index + 1]
        if (
            self.current.kind == "name"
            and self.current.text.upper() == "VALUE"
            and following.text not in {"FROM", ",", "AS", ".", "["}
        ):
            raise SqlError("SELECT VALUE is not supported by the local evaluator")
        items = [self.select_item()]
        while self.accept("op", ","):
            items.append(self.select_item())
        self.expect("keyword", "FROM")
        topic_filter = str(self.expect("string").value)
        validate_topic_filter(topic_filter)
        where = self.expression() if self.accept("keyword", "WHERE") else None
        self.expect("end")
        return Statement(self.text, tuple(items), topic_filter, where)

    def select_item(self) -> SelectItem:
        if self.accept("op", "*"):
            return SelectItem(Star(), None)
        start = self.current.position
        expr = self.expression()
        alias = None
        if self.accept("keyword", "AS"):
            alias = str(self.expect("name").value)
        elif not isinstance(expr, FieldRef):
            shown = self.text[start : self.current.position].strip()
            raise SqlError(f"SELECT item {shown!r} needs a name: add 'AS <name>'")
        return SelectItem(expr, alias)

    def expression(self) -> Expr:
        left = self.conjunction()
        while self.accept("keyword", "OR"):
            left = Binary("OR", left, self.conjunction())
        return left

    def conjunction(self) -> Expr:
        left = self.negation()
        while self.accept("keyword", "AND"):
            left = Binary("AND", left, self.negation())
        return left

    def negation(self) -> Expr:
        if self.accept("keyword", "NOT"):
            return Unary("NOT", self.negation())
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        for op in ("=", "<>", "!=", "<=", ">=", "<", ">"):
            if self.accept("op", op):
                return Binary(op, left, self.additive())
        return left

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.at("op", "+") or self.at("op", "-"):
            op = self.advance().text
            left = Binary(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while self.at("op", "*") or self.at("op", "/") or self.at("op", "%"):
            op = self.advance().text
            left = Binary(op, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.accept("op", "-"):
            return Unary("-", self.unary())
        return self.primary()

    def primary(self) -> Expr:
        token = self.current
        if token.kind in {"number", "string"}:
            self.advance()
            return Literal(token.value)
        if token.kind == "keyword" and token.text in {"TRUE", "FALSE", "NULL"}:
            self.advance()
            return Literal({"TRUE": True, "FALSE": False, "NULL": None}[token.text])
        if self.accept("op", "("):
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if token.kind == "name" and token.text.upper() == "CASE":
            raise SqlError("CASE is not supported by the local evaluator")
        if token.kind == "name":
            self.advance()
            if self.at("op", "("):
                return self.call(token)
            return self.path(token.text)
        if token.kind == "op" and token.text in {"{", "["}:
            raise SqlError("object and array literals are not supported by the local evaluator")
        found = token.text or "the end of the statement"
        raise SqlError(f"unexpected {found!r} at position {token.position}")

    def call(self, name: Token) -> Expr:
        function = FUNCTIONS.get(name.text.lower())
        if function is None:
            supported = ", ".join(f"{f.name}()" for f in FUNCTIONS.values())
            raise SqlError(
                f"function {name.text}() is not supported by the local evaluator "
                f"(supported: {supported})"
            )
        self.expect("op", "(")
        args: list[Expr] = []
        if not self.at("op", ")"):
            args.append(self.argument(function))
            while self.accept("op", ","):
                args.append(self.argument(function))
        self.expect("op", ")")
        if not function.min_args <= len(args) <= function.max_args:
            raise SqlError(
                f"{function.name}() takes {function.min_args} to {function.max_args} "
                f"arguments, got {len(args)}"
            )
        return Call(function.name, tuple(args))

    def argument(self, function: Function) -> Expr:
        if self.at("op", "*"):
            if not function.star_allowed:
                raise SqlError(f"{function.name}() does not take '*'")
            self.advance()
            return Star()
        return self.expression()

    def path(self, first: str) -> Expr:
        parts: list[str | int] = [first]
        while True:
            if self.accept("op", "."):
                parts.append(str(self.expect("name").value))
            elif self.accept("op", "["):
                negative = self.accept("op", "-") is not None
                index = self.expect("number").value
                if not isinstance(index, int):
                    raise SqlError(f"array index {index!r} is not an integer")
                parts.append(-index if negative else index)
                self.expect("op", "]")
            else:
                return FieldRef(tuple(parts))


def parse(sql: str) -> Statement:
    """Parse a rule's SQL statement; raises SqlError naming what is wrong or unsupported."""
    if not sql or not sql.strip():
        raise SqlError("the rule's SQL statement is empty")
    return _Parser(sql).statement()


def parse_expression(text: str) -> Expr:
    parser = _Parser(text)
    expr = parser.expression()
    parser.expect("end")
    return expr


# ---------------------------------------------------------------------------------------------
# Topic filters


def validate_topic_filter(topic_filter: str) -> None:
    if not topic_filter:
        raise SqlError("the FROM topic filter is empty")
    levels = topic_filter.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            raise SqlError(f"topic filter {topic_filter!r}: '#' must be the whole last level")
        if "+" in level and level != "+":
            raise SqlError(f"topic filter {topic_filter!r}: '+' must be a whole level")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching; wildcards do not match topics that start with '$'."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    if topic.startswith("$") and filter_levels[0] in {"+", "#"}:
        return False
    for position, level in enumerate(filter_levels):
        if level == "#":
            return True
        if position >= len(topic_levels):
            return False
        if level not in {"+", topic_levels[position]}:
            return False
    return len(filter_levels) == len(topic_levels)


# ---------------------------------------------------------------------------------------------
# Substitution templates


@dataclass(frozen=True)
class Template:
    text: str
    parts: tuple[str | Expr, ...]

    def render(self, message: Message) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.evaluate(message)
            if value is UNDEFINED:
                continue
            out.append(value if isinstance(value, str) else json.dumps(value))
        return "".join(out)


def parse_template(text: str) -> Template:
    """`sensors/${topic(2)}/x` -> literal and expression parts; raises SqlError."""
    parts: list[str | Expr] = []
    position = 0
    while True:
        start = text.find("${", position)
        if start < 0:
            parts.append(text[position:])
            break
        parts.append(text[position:start])
        end = _template_end(text, start + 2)
        try:
            parts.append(parse_expression(text[start + 2 : end]))
        except SqlError as err:
            raise SqlError(f"substitution template {text!r}: {err}") from err
        position = end + 1
    return Template(text, tuple(part for part in parts if part != ""))


def _template_end(text: str, position: int) -> int:
    in_string = False
    for index in range(position, len(text)):
        char = text[index]
        if char == "'":
            in_string = not in_string
        elif char == "}" and not in_string:
            return index
    raise SqlError(f"substitution template {text!r}: '${{' without a closing '}}'")
