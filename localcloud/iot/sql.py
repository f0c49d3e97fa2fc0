"""AWS IoT SQL (version 2016-03-23) for the local topic rule engine: parser and evaluator.

sqlglot parses the statement, with its default grammar narrowed to IoT SQL's reading of names
and brackets (`_IotSqlDialect`: type names such as `timestamp` or `list` are ordinary names,
`list[1]` indexes the field `list` rather than building an array, an alias needs `AS`); the
tree is then turned into this module's expression nodes, which evaluate a message.
`parse(sql)` turns a rule's statement into a `Statement`; `Statement.evaluate(message)` returns
the rule's output for one MQTT message (a JSON object, or the raw payload for `SELECT *` over a
non-JSON payload), or `None` when the topic does not match.
`parse_template` (and `Template.render`) handle the `${expression}` substitution templates of action
parameters (Kinesis `PartitionKey`, S3 `Key`).

Supported, following the AWS IoT SQL reference:
- `SELECT` items: `*`, expressions with `AS alias`, field references with nested fields
  (`a.b`) and array indexes (`a[0]`), literals (numbers, 'strings', true, false, null);
- `FROM 'topic/filter'` with MQTT wildcards `+` (one level) and `#` (any remaining levels);
- functions `topic()`, `topic(n)`, `clientid()`, `timestamp()`, `newuuid()`,
  `encode(value, 'base64')` (`encode(*, 'base64')` encodes the raw payload): what the stack's
  rule and its action templates use.
- Undefined: a field that is not in the payload is Undefined; an Undefined SELECT item is left out
  of the output.
- Binary (non-JSON) payloads: as AWS documents ("Working with binary payloads"), a statement may
  handle a non-JSON payload only if it refers to no JSON names: `SELECT *` alone, or only
  functions such as `encode(*, 'base64')`. If the payload is not JSON and the statement refers to
  a field or combines `*` with other items, evaluation raises
  `PayloadParseError`, the local counterpart of the rule engine's `ParseError` metric: the rule's
  actions do not run for that message.

Differences from AWS
--------------------
- Only SQL version 2016-03-23 semantics; numbers are Python int/float, not 34-digit decimals.
- A SELECT item that is not a plain field reference needs `AS alias` (rejected when parsing).
- Not supported (rejected with an error naming them when parsing; the stack's rule uses none):
  `WHERE`, operators (comparison, logic, arithmetic), `SET`, `CASE`, `SELECT VALUE`, object and
  array literals, nested-object queries, and
  every function not listed above (e.g. `principal()`, `get_thing_shadow()`, `aws_lambda()`,
  string and math functions). As in AWS, comments are refused; so are quoted field names.
- Field names that sqlglot still reads as SQL (e.g. `any`, `between`, `like`, `when`, `then`,
  `else`, `current_date`) are refused when parsing, with sqlglot's position and reason.
- `FROM "a/b"` (double quotes) is accepted like `FROM 'a/b'`: sqlglot's tree does not tell them
  apart there.
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
from functools import cached_property
from typing import Any, ClassVar

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

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


FUNCTIONS: dict[str, Function] = {
    function.name.lower(): function
    for function in (
        Function("topic", 0, 1, _topic),
        Function("clientid", 0, 0, lambda args, m: m.client_id),
        Function("timestamp", 0, 0, lambda args, m: m.timestamp_ms),
        Function("newuuid", 0, 0, lambda args, m: str(uuid.uuid4())),
        Function("encode", 2, 2, _encode, star_allowed=True),
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
    star_only: bool = field(init=False)
    needs_json: bool = field(init=False)

    def __post_init__(self) -> None:
        stars = [item for item in self.items if isinstance(item.expr, Star)]
        object.__setattr__(self, "star_only", len(self.items) == 1 and len(stars) == 1)
        needs = any(item.expr.refers_to_json() for item in self.items)
        needs = needs or (bool(stars) and len(self.items) > 1)
        object.__setattr__(self, "needs_json", needs)

    def matches_topic(self, topic: str) -> bool:
        return topic_matches(self.topic_filter, topic)

    def evaluate(self, message: Message) -> dict[str, Any] | bytes | None:
        """The rule's output for `message`; None if the topic does not match.

        Raises PayloadParseError for a non-JSON payload when the statement needs JSON.
        """
        if not self.matches_topic(message.topic):
            return None
        if self.needs_json:
            message.document  # noqa: B018 (raises PayloadParseError for a non-JSON payload)
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


_PLAIN_WORDS = {"ALL", "CROSS", "DISTINCT", "EXCEPT", "INNER", "INTERSECT", "INTO", "JOIN", "ON"}
_PLAIN_WORDS |= {"OUTER", "USING", "WITH"}


class _IotSqlDialect(Dialect):
    """sqlglot's default grammar, narrowed to how IoT SQL reads names, brackets and aliases."""

    INDEX_OFFSET = 0  # `a[0]` is the first element

    class Tokenizer(tokens.Tokenizer):
        # Type names (timestamp, date, list, ...) and SQL words without a meaning in IoT SQL
        # (on, all, join, ...) are field and function names.
        KEYWORDS: ClassVar[dict[str, TokenType]] = {
            word: kind
            for word, kind in tokens.Tokenizer.KEYWORDS.items()
            if (kind not in parser.Parser.TYPE_TOKENS or kind == TokenType.NULL)
            and word not in _PLAIN_WORDS
        }

    class Parser(parser.Parser):
        FUNCTIONS: ClassVar[dict[str, Callable]] = {}  # every call is exp.Anonymous
        ARRAY_CONSTRUCTORS: ClassVar[dict[str, type[exp.Expr]]] = {}  # `list[1]` is an index

        def _parse_alias(self, this: exp.Expr | None, explicit: bool = False) -> exp.Expr | None:
            return super()._parse_alias(this, explicit=True)  # an alias needs AS


_DIALECT = _IotSqlDialect()
_CLAUSES = {"expressions", "from_"}


def parse(sql: str) -> Statement:
    """Parse a rule's SQL statement; raises SqlError naming what is wrong or unsupported."""
    if not sql or not sql.strip():
        raise SqlError("the rule's SQL statement is empty")
    first = re.findall(r"\w+|\S", sql)[0].upper()
    if first != "SELECT":
        raise SqlError(f"{first} is not supported by the local evaluator (expected SELECT)")
    try:
        select = _parse_tree(sql)
    except SqlError as err:
        if re.match(r"\s*SELECT\s+VALUE\b", sql, re.IGNORECASE):
            raise SqlError("SELECT VALUE is not supported by the local evaluator") from err
        raise
    if not isinstance(select, exp.Select):
        raise SqlError(f"{select.key.upper()} is not supported by the local evaluator")
    for clause, value in select.args.items():
        if value and clause not in _CLAUSES:
            raise SqlError(f"{clause.upper()} is not supported by the local evaluator")
    if not select.expressions:
        raise SqlError("expected SELECT items before FROM")
    source = select.args.get("from_")
    if source is None:
        raise SqlError("expected FROM 'topic/filter' after the SELECT items")
    table = source.this
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise SqlError(f"FROM needs a 'topic/filter' string, found {table.sql(_DIALECT)!r}")
    if not table.this.quoted:
        raise SqlError(f"FROM needs a 'topic/filter' string in quotes, found {table.name!r}")
    if table.alias:
        raise SqlError(f"unexpected {table.alias!r} after the FROM topic filter")
    validate_topic_filter(table.name)
    items = tuple(_select_item(node) for node in select.expressions)
    return Statement(sql, items, table.name)


def parse_expression(text: str) -> Expr:
    return _convert(_parse_tree(text))


def _parse_tree(text: str) -> exp.Expr:
    try:
        found = _DIALECT.tokenize(text)
        if any(token.token_type == TokenType.SEMICOLON for token in found):
            raise SqlError("';' is not supported: a rule's SQL is one statement")
        if any(token.comments for token in found):
            raise SqlError("comments are not supported in AWS IoT SQL")
        tree = _DIALECT.parser().parse(found, text)[0]
    except ParseError as err:
        detail = err.errors[0] if err.errors else {}
        near = detail.get("highlight") or "the end of the statement"
        # "missing for <class 'sqlglot.expressions.query.Where'>" -> "missing for Where"
        reason = re.sub(r"<class '[\w.]*\.(\w+)'>", r"\1", str(detail.get("description", err)))
        where = f"line {detail.get('line', '?')}, column {detail.get('col', '?')}"
        raise SqlError(f"cannot parse near {near!r} ({where}): {reason}") from err
    except TokenError as err:
        raise SqlError(f"cannot read the statement: {err}") from err
    if tree is None:
        raise SqlError(f"no expression in {text!r}")
    return tree


def _select_item(node: exp.Expr) -> SelectItem:
    if isinstance(node, exp.Star):
        return SelectItem(Star(), None)
    if isinstance(node, exp.Alias):
        return SelectItem(_convert(node.this), node.alias)
    expr = _convert(node)
    if not isinstance(expr, FieldRef):
        raise SqlError(f"SELECT item {node.sql(_DIALECT)!r} needs a name: add 'AS <name>'")
    return SelectItem(expr, None)


def _convert(node: exp.Expr) -> Expr:
    """sqlglot's expression tree -> the evaluator's nodes, refusing what it does not support."""
    if isinstance(node, exp.Paren):
        return _convert(node.this)
    if isinstance(node, exp.Literal | exp.Boolean | exp.Null):
        return Literal(_constant(node))
    if isinstance(node, exp.Column | exp.Dot | exp.Bracket):
        return FieldRef(_field_path(node))
    if isinstance(node, exp.Anonymous):
        return _call(node)
    if isinstance(node, exp.Struct | exp.Array):
        raise SqlError("object and array literals are not supported by the local evaluator")
    if isinstance(node, exp.Star):
        raise SqlError("'*' is supported only as a SELECT item or a function argument")
    shown = node.sql(_DIALECT)
    raise SqlError(f"{node.key.upper()} is not supported by the local evaluator: {shown!r}")


def _constant(node: exp.Literal | exp.Boolean | exp.Null) -> Any:
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean) or node.is_string:
        return node.this
    return float(node.this) if any(c in node.this for c in ".eE") else int(node.this)


def _field_path(node: exp.Expr) -> tuple[str | int, ...]:
    """`a.b[0].c` -> ("a", "b", 0, "c"): a bracket indexes the field before it (IoT SQL)."""
    if isinstance(node, exp.Bracket):
        index = node.expressions[0] if len(node.expressions) == 1 else node
        negative = isinstance(index, exp.Neg)
        digits = index.this if negative else index
        if not (isinstance(digits, exp.Literal) and not digits.is_string and digits.this.isdigit()):
            raise SqlError(f"array index {index.sql(_DIALECT)!r} is not an integer")
        return (*_field_path(node.this), -int(digits.this) if negative else int(digits.this))
    if isinstance(node, exp.Dot):
        prefix, names = _field_path(node.this), [node.expression]
    elif isinstance(node, exp.Column):
        prefix, names = (), node.parts
    else:
        raise SqlError(f"{node.sql(_DIALECT)!r} is not a field: '.' and '[]' apply to fields")
    for name in names:
        if not isinstance(name, exp.Identifier) or name.quoted:
            shown = name.sql(_DIALECT)
            raise SqlError(f"field name {shown!r} is not supported by the local evaluator")
    return (*prefix, *(name.name for name in names))


def _call(node: exp.Anonymous) -> Call:
    function = FUNCTIONS.get(node.name.lower())
    if function is None:
        supported = ", ".join(f"{f.name}()" for f in FUNCTIONS.values())
        raise SqlError(
            f"function {node.name}() is not supported by the local evaluator "
            f"(supported: {supported})"
        )
    args: list[Expr] = []
    for arg in node.expressions:
        if isinstance(arg, exp.Star) and not function.star_allowed:
            raise SqlError(f"{function.name}() does not take '*'")
        args.append(Star() if isinstance(arg, exp.Star) else _convert(arg))
    if not function.min_args <= len(args) <= function.max_args:
        raise SqlError(
            f"{function.name}() takes {function.min_args} to {function.max_args} "
            f"arguments, got {len(args)}"
        )
    return Call(function.name, tuple(args))


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
