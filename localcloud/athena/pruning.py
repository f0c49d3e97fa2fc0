"""Partition pruning: what a query's WHERE clause says about a table's partition columns.

For one table reference in a parsed (Athena-dialect) statement, `filter_for(table, columns)`
collects the top-level AND terms of the WHERE clause of the SELECT that reads the table and keeps
those that constrain one of `columns` (the partition columns and the `"$path"` pseudo-column) with
literals: `=`, `IN (...)`, `<`, `<=`, `>`, `>=`, `BETWEEN`, and `OR` of such terms (a column
constrained in every branch of an OR is pruned to what any branch allows).

Pruning is conservative: a term the module does not understand (a function call, a subquery, a
comparison between columns, a literal it cannot compare with the partition value) keeps every
partition. The WHERE clause still runs in full in DuckDB, so pruning only changes what is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}
_OPS: dict[type[exp.Expression], str] = {
    exp.EQ: "=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}


@dataclass(frozen=True)
class Comparison:
    """`column <op> literal`; op "in" means equal to one of `values`."""

    op: str
    values: tuple[object, ...]


@dataclass(frozen=True)
class AnyOf:
    """A disjunction of predicates on one column."""

    options: tuple[Predicate, ...]


@dataclass(frozen=True)
class AllOf:
    """A conjunction of predicates on one column (one branch of an OR)."""

    members: tuple[Predicate, ...]


Predicate = Comparison | AnyOf | AllOf


def accepts(predicate: Predicate, value: object) -> bool:
    """Whether a partition value may satisfy the predicate (True when in doubt)."""
    if isinstance(predicate, AnyOf):
        return any(accepts(option, value) for option in predicate.options)
    if isinstance(predicate, AllOf):
        return all(accepts(member, value) for member in predicate.members)
    if predicate.op == "in":
        results = [_compare(value, literal) for literal in predicate.values]
        return any(result is None or result == 0 for result in results)
    result = _compare(value, predicate.values[0])
    if result is None:
        return True
    return {
        "<": result < 0,
        "<=": result <= 0,
        ">": result > 0,
        ">=": result >= 0,
    }[predicate.op]


def _equality_values(predicate: Predicate) -> frozenset[object] | None:
    if isinstance(predicate, AnyOf):
        options = [_equality_values(option) for option in predicate.options]
        if any(option is None for option in options):
            return None
        return frozenset().union(*[option for option in options if option is not None])
    if isinstance(predicate, AllOf):
        known = [_equality_values(member) for member in predicate.members]
        sets = [values for values in known if values is not None]
        return frozenset.intersection(*sets) if sets else None
    if predicate.op == "in":
        return frozenset(predicate.values)
    return None


@dataclass
class PartitionFilter:
    """The pruning predicates of one table reference, by lower-case column name."""

    predicates: dict[str, list[Predicate]] = field(default_factory=dict)

    def accepts(self, column: str, value: object) -> bool:
        return all(accepts(predicate, value) for predicate in self.predicates.get(column, []))

    def equality_values(self, column: str) -> frozenset[object] | None:
        """The static values an equality/IN condition allows for the column, if there is one."""
        result: frozenset[object] | None = None
        for predicate in self.predicates.get(column, []):
            values = _equality_values(predicate)
            if values is not None:
                result = values if result is None else result & values
        return result

    def constrains(self, column: str) -> bool:
        return bool(self.predicates.get(column))


def filter_for(table: exp.Table, columns: Collection[str]) -> PartitionFilter:
    """The predicates the WHERE clause of the SELECT reading `table` puts on `columns`."""
    wanted = {column.lower() for column in columns}
    result = PartitionFilter()
    select = _reading_select(table)
    if select is None or not wanted:
        return result
    where = select.args.get("where")
    if where is None:
        return result
    alias = table.alias_or_name.lower()
    for term in _conjuncts(where.this):
        for column, predicate in _predicates(term, alias, wanted):
            result.predicates.setdefault(column, []).append(predicate)
    return result


def _reading_select(table: exp.Table) -> exp.Select | None:
    parent = table.parent
    if isinstance(parent, exp.From | exp.Join) and isinstance(parent.parent, exp.Select):
        return parent.parent
    return None


def _conjuncts(node: exp.Expression) -> Iterator[exp.Expression]:
    node = _unparen(node)
    if isinstance(node, exp.And):
        yield from _conjuncts(node.left)
        yield from _conjuncts(node.right)
    else:
        yield node


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _column_of(node: exp.Expression, alias: str, wanted: set[str]) -> str | None:
    node = _unparen(node)
    if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
        return None
    name = node.name.lower()
    qualifier = node.table.lower()
    if name in wanted and qualifier in ("", alias):
        return name
    return None


def _predicates(node: exp.Expression, alias: str, wanted: set[str]) -> list[tuple[str, Predicate]]:
    node = _unparen(node)
    op = _OPS.get(type(node))
    if op is not None and isinstance(node, exp.Binary):
        return _binary(node.left, node.right, op, alias, wanted)
    if isinstance(node, exp.In):
        return _in(node, alias, wanted)
    if isinstance(node, exp.Between):
        return _between(node, alias, wanted)
    if isinstance(node, exp.Or):
        return _disjunction(node, alias, wanted)
    return []


def _in(node: exp.In, alias: str, wanted: set[str]) -> list[tuple[str, Predicate]]:
    if node.args.get("query") or node.args.get("unnest"):
        return []
    column = _column_of(node.this, alias, wanted)
    literals = [_literal(item) for item in node.expressions]
    if column is None or not literals or any(not ok for ok, _ in literals):
        return []
    return [(column, Comparison("in", tuple(value for _, value in literals)))]


def _between(node: exp.Between, alias: str, wanted: set[str]) -> list[tuple[str, Predicate]]:
    column = _column_of(node.this, alias, wanted)
    low_ok, low = _literal(node.args["low"])
    high_ok, high = _literal(node.args["high"])
    if column is None or not (low_ok and high_ok):
        return []
    return [(column, Comparison(">=", (low,))), (column, Comparison("<=", (high,)))]


def _binary(
    left: exp.Expression, right: exp.Expression, op: str, alias: str, wanted: set[str]
) -> list[tuple[str, Predicate]]:
    column = _column_of(left, alias, wanted)
    ok, value = _literal(right)
    if column is None:
        column = _column_of(right, alias, wanted)
        ok, value = _literal(left)
        op = _FLIP[op]
    if column is None or not ok:
        return []
    if op == "=":
        return [(column, Comparison("in", (value,)))]
    return [(column, Comparison(op, (value,)))]


def _disjunction(node: exp.Or, alias: str, wanted: set[str]) -> list[tuple[str, Predicate]]:
    """An OR prunes a column that every branch constrains: any branch's predicates may hold."""
    branches: list[exp.Expression] = []

    def collect(item: exp.Expression) -> None:
        item = _unparen(item)
        if isinstance(item, exp.Or):
            collect(item.left)
            collect(item.right)
        else:
            branches.append(item)

    collect(node)
    per_branch: list[dict[str, list[Predicate]]] = []
    for branch in branches:
        found: dict[str, list[Predicate]] = {}
        for term in _conjuncts(branch):
            for column, predicate in _predicates(term, alias, wanted):
                found.setdefault(column, []).append(predicate)
        per_branch.append(found)
    common = set.intersection(*(set(found) for found in per_branch)) if per_branch else set()
    return [
        (
            column,
            AnyOf(
                tuple(
                    found[column][0] if len(found[column]) == 1 else AllOf(tuple(found[column]))
                    for found in per_branch
                )
            ),
        )
        for column in sorted(common)
    ]


def _literal(node: exp.Expression) -> tuple[bool, object]:
    """(True, value) when the node is a constant the pruner can compare."""
    node = _unparen(node)
    value: object = None
    if isinstance(node, exp.Literal):
        value = node.this if node.is_string else _number(node.this)
    elif isinstance(node, exp.Neg):
        inner_ok, inner = _literal(node.this)
        value = -inner if inner_ok and _is_number(inner) else None  # type: ignore[operator]
    elif isinstance(node, exp.Boolean):
        value = bool(node.this)
    elif isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        inner_ok, inner = _literal(node.this)
        value = _cast_literal(inner, node.to) if inner_ok else None
    return value is not None, value


def _number(text: str) -> int | float | None:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_CASTS: tuple[tuple[Collection[exp.DataType.Type], Callable[[str], object]], ...] = (
    ({exp.DataType.Type.DATE}, dt.date.fromisoformat),
    (exp.DataType.TEMPORAL_TYPES, lambda text: dt.datetime.fromisoformat(text.replace(" ", "T"))),
    (exp.DataType.INTEGER_TYPES, int),
    (exp.DataType.REAL_TYPES, float),
    (exp.DataType.TEXT_TYPES, str),
)


def _cast_literal(value: object, to: exp.DataType) -> object:
    for types, convert in _CASTS:
        if to.is_type(*types):
            try:
                return convert(str(value))
            except ValueError:
                return None
    return None


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if _is_number(value):
        return "number"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    return "string" if isinstance(value, str) else "other"


def _comparable(value: object, literal: object) -> tuple[Any, Any] | None:
    """The two sides in one comparable type, or None (then the pruner keeps the partition)."""
    kinds = (_kind(value), _kind(literal))
    if "bool" in kinds or "other" in kinds:
        return None
    if kinds[0] == kinds[1]:
        return value, literal
    converters: dict[tuple[str, str], Callable[[], tuple[Any, Any]]] = {
        ("string", "date"): lambda: (value, literal.isoformat()),  # type: ignore[attr-defined]
        ("date", "string"): lambda: (value, dt.date.fromisoformat(str(literal))),
        ("string", "number"): lambda: (float(value), literal),  # type: ignore[arg-type]
        ("number", "string"): lambda: (value, float(literal)),  # type: ignore[arg-type]
    }
    convert = converters.get(kinds)
    if convert is None:
        return None
    try:
        return convert()
    except ValueError:
        return None


def _compare(value: object, literal: object) -> int | None:
    """Order a partition value against a literal; None when they cannot be compared."""
    pair = _comparable(value, literal)
    if pair is None:
        return None
    left, right = pair
    return int(left > right) - int(left < right)
