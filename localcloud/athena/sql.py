"""Athena SQL for the local Athena: parse and classify a statement, translate a query to DuckDB.

Statements are parsed with sqlglot's `athena` dialect (Trino for queries, Hive for DDL). A query
is translated to DuckDB with sqlglot, plus what sqlglot leaves as-is: `format_datetime` and
`parse_datetime` (Java patterns), `millisecond` (Trino: the millisecond of the second), and a few
Trino functions DuckDB lacks, defined as DuckDB macros (`DUCKDB_SETUP`). Integer division
follows Trino (`SET integer_division = true`); the session time zone is UTC, as in Athena.

CTAS properties (`format`, `write_compression`, `external_location`, `partitioned_by`) are read
from the AST, because sqlglot does not carry them into DuckDB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from localcloud.athena.dates import ConvertedPattern, convert

UNNAMED_PREFIX = "__athena_unnamed_"
DIALECT = "athena"

# Run on every DuckDB connection of the local Athena.
DUCKDB_SETUP = (
    "SET TimeZone = 'UTC'",
    "SET integer_division = true",
    "CREATE MACRO to_iso8601(x) AS CASE"
    " WHEN typeof(x) = 'DATE' THEN strftime(x, '%Y-%m-%d')"
    " WHEN typeof(x) = 'TIMESTAMP WITH TIME ZONE' THEN strftime(x, '%Y-%m-%dT%H:%M:%S.%gZ')"
    " ELSE strftime(x, '%Y-%m-%dT%H:%M:%S.%g') END",
    "CREATE MACRO at_timezone(x, zone) AS timezone(zone, x)",
    "CREATE MACRO with_timezone(x, zone) AS timezone(zone, x)",
    "CREATE MACRO current_timezone() AS current_setting('TimeZone')",
)

logging.getLogger("sqlglot").setLevel(logging.ERROR)


class QueryError(Exception):
    """A query fails; the message is Athena's `StateChangeReason` (`CODE: details`)."""


@dataclass(frozen=True)
class CtasProperties:
    """The `WITH (...)` properties of a CREATE TABLE AS SELECT."""

    format: str = "PARQUET"
    compression: str = "GZIP"
    external_location: str | None = None
    partitioned_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Statement:
    """One parsed Athena statement."""

    kind: str  # SELECT or CTAS
    ast: exp.Expression
    query: exp.Expression | None = None
    target: exp.Table | None = None
    if_exists: bool = False
    ctas: CtasProperties | None = None

    @property
    def statement_type(self) -> str:
        return "DML" if self.kind == "SELECT" else "DDL"

    @property
    def substatement_type(self) -> str:
        return {"CTAS": "CREATE_TABLE_AS_SELECT"}.get(self.kind, self.kind)


def parse_statement(sql: str) -> Statement:
    """Parse and classify one statement; raise QueryError for what Athena would reject."""
    try:
        parsed = [item for item in sqlglot.parse(sql, read=DIALECT) if item is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        where = f"line {first.get('line', 1)}:{first.get('col', 1)}: " if first else ""
        description = first.get("description", str(err)) if first else str(err)
        raise QueryError(f"SYNTAX_ERROR: {where}{description}") from err
    except TokenError as err:
        raise QueryError(f"SYNTAX_ERROR: {err}") from err
    if not parsed:
        raise QueryError("SYNTAX_ERROR: line 1:1: the query is empty")
    if len(parsed) > 1:
        raise QueryError("INVALID_INPUT: Only one sql statement is allowed.")
    return _classify(parsed[0])


def _classify(ast: exp.Expression) -> Statement:
    if isinstance(ast, exp.Query):
        return Statement("SELECT", ast, query=ast)
    if isinstance(ast, exp.Create):
        kind = str(ast.args.get("kind") or "").upper()
        target = ast.this if isinstance(ast.this, exp.Table) else ast.find(exp.Table)
        if kind == "TABLE" and isinstance(ast.expression, exp.Query):
            return Statement(
                "CTAS",
                ast,
                query=ast.expression,
                target=target,
                if_exists=bool(ast.args.get("exists")),
                ctas=ctas_properties(ast),
            )
    first_words = " ".join(ast.sql(dialect=DIALECT).split()[:2]).upper()
    raise QueryError(
        f"NOT_SUPPORTED: the local Athena endpoint runs SELECT and CREATE TABLE AS SELECT; "
        f"not {first_words!r}"
    )


def _text(node: exp.Expression | None) -> str:
    if isinstance(node, exp.Literal | exp.Var | exp.Identifier):
        return str(node.this)
    return node.sql(dialect=DIALECT).strip("'\"") if node is not None else ""


def ctas_properties(create: exp.Create) -> CtasProperties:
    """Read `format`, `write_compression`, `external_location`, `partitioned_by` from a CTAS."""
    values: dict[str, str] = {}
    partitioned_by: tuple[str, ...] = ()
    properties = create.args.get("properties")
    for prop in properties.expressions if properties else []:
        if isinstance(prop, exp.FileFormatProperty):
            values["format"] = _text(prop.this)
        elif isinstance(prop, exp.PartitionedByProperty):
            target = prop.this
            items = target.expressions if isinstance(target, exp.Array | exp.Schema) else [target]
            partitioned_by = tuple(_text(item).lower() for item in items)
        elif isinstance(prop, exp.LocationProperty):
            values["external_location"] = _text(prop.this)
        elif isinstance(prop, exp.Property):
            name = _text(prop.this).lower()
            value = prop.args.get("value")
            if name == "partitioned_by" and isinstance(value, exp.Array):
                partitioned_by = tuple(_text(item).lower() for item in value.expressions)
            else:
                values[name] = _text(value)
    file_format = values.get("format", "PARQUET").upper()
    if file_format != "PARQUET":
        raise QueryError(
            f"NOT_SUPPORTED: the local Athena endpoint writes CTAS tables as PARQUET only, "
            f"not {file_format}"
        )
    if values.get("table_type", "HIVE").upper() != "HIVE":
        raise QueryError(
            f"NOT_SUPPORTED: the local Athena endpoint does not create {values['table_type']} "
            f"tables"
        )
    compression = (
        values.get("write_compression") or values.get("parquet_compression") or "GZIP"
    ).upper()
    if compression not in ("GZIP", "SNAPPY", "ZSTD", "LZ4", "NONE", "UNCOMPRESSED"):
        raise QueryError(
            f"INVALID_TABLE_PROPERTY: unsupported write_compression {compression!r} for PARQUET"
        )
    return CtasProperties(
        format=file_format,
        compression=compression,
        external_location=values.get("external_location"),
        partitioned_by=partitioned_by,
    )


def cte_names(query: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}


def table_references(query: exp.Expression) -> list[exp.Table]:
    """Tables read by the query (not CTE names, not table functions)."""
    ctes = cte_names(query)
    found = []
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        found.append(table)
    return found


def qualified_name(table: exp.Table, default_database: str) -> tuple[str, str]:
    """(database, table) of a reference, lower-cased as Athena does; checks the catalog."""
    catalog = table.catalog.lower()
    if catalog and catalog != "awsdatacatalog":
        raise QueryError(
            f"CATALOG_NOT_FOUND: Catalog '{catalog}' does not exist "
            f"(the local Athena endpoint knows AwsDataCatalog only)"
        )
    return (table.db or default_database).lower(), table.name.lower()


def leftmost_select(query: exp.Expression) -> exp.Select | None:
    node: exp.Expression | None = query
    while node is not None and not isinstance(node, exp.Select):
        if not isinstance(node, exp.SetOperation | exp.Subquery):
            return None
        node = node.this
    return node


def name_unnamed_columns(query: exp.Expression) -> list[int]:
    """Alias output expressions that have no name; return their positions (0-based).

    Trino names such columns `_col<position>`; the caller renames the placeholders after
    execution, when `*` has been expanded and positions are known.
    """
    select = leftmost_select(query)
    if select is None:
        return []
    positions = []
    for index, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias | exp.Column | exp.Star):
            continue
        select.expressions[index] = exp.alias_(
            projection, exp.to_identifier(f"{UNNAMED_PREFIX}{index}")
        )
        positions.append(index)
    return positions


def output_name(name: str, position: int) -> str:
    """The column name Athena reports for a DuckDB output column."""
    if name.startswith(UNNAMED_PREFIX):
        return f"_col{position}"
    return name.lower()


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.ParseDatetime):
        fmt = node.args.get("format")
        if isinstance(fmt, exp.Literal) and fmt.is_string:
            return exp.Anonymous(
                this="STRPTIME",
                expressions=[node.this, exp.Literal.string(_java(fmt.this).duckdb)],
            )
        raise QueryError("NOT_SUPPORTED: parse_datetime needs a constant pattern locally")
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        args = node.expressions
        if name == "format_datetime" and len(args) == 2:
            fmt = args[1]
            if not (isinstance(fmt, exp.Literal) and fmt.is_string):
                raise QueryError("NOT_SUPPORTED: format_datetime needs a constant pattern locally")
            return exp.Anonymous(
                this="STRFTIME", expressions=[args[0], exp.Literal.string(_java(fmt.this).duckdb)]
            )
        if name == "millisecond" and len(args) == 1:
            inner = exp.Anonymous(this="MILLISECOND", expressions=[args[0]])
            return exp.Paren(this=exp.Mod(this=inner, expression=exp.Literal.number(1000)))
    return node


def _java(pattern: str) -> ConvertedPattern:
    try:
        return convert(pattern)
    except ValueError as err:
        raise QueryError(f"INVALID_FUNCTION_ARGUMENT: {err}") from err


def to_duckdb(query: exp.Expression) -> str:
    """The DuckDB SQL for an (already table-resolved) Athena query."""
    rewritten = query.copy().transform(_rewrite)
    try:
        return rewritten.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        raise QueryError(f"NOT_SUPPORTED: {err}") from err


def quote(identifier: str) -> str:
    """A DuckDB quoted identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def string_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
