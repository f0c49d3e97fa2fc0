"""Types for the local Athena: Glue (Hive) column types, DuckDB types, Athena result types.

Three directions:
- `duckdb_type(hive)`: a Glue column type (`string`, `array<string>`, `decimal(10,2)`,
  `struct<a:int>`) as the DuckDB type used to read it;
- `athena_type(duck)` / `presto_type(duck)` / `hive_type(duck)`: a DuckDB result type as Athena
  reports it in `ColumnInfo.Type`, in Presto notation, and as a CTAS registers it in Glue;
- `render(value)`: a DuckDB result value as the text Athena returns in `VarCharValue` and CSV.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
from sqlglot import exp
from sqlglot.errors import ParseError

DType = exp.DataType.Type


class UnsupportedTypeError(ValueError):
    """A type the local Athena cannot map (the message names it)."""


_DUCKDB_PRIMITIVES = {
    DType.TEXT: "VARCHAR",
    DType.VARCHAR: "VARCHAR",
    DType.CHAR: "VARCHAR",
    DType.BOOLEAN: "BOOLEAN",
    DType.TINYINT: "TINYINT",
    DType.SMALLINT: "SMALLINT",
    DType.INT: "INTEGER",
    DType.BIGINT: "BIGINT",
    DType.FLOAT: "FLOAT",
    DType.DOUBLE: "DOUBLE",
    DType.DATE: "DATE",
    DType.TIMESTAMP: "TIMESTAMP",
    DType.BINARY: "BLOB",
    DType.VARBINARY: "BLOB",
}


def duckdb_type(hive: str) -> str:
    """The DuckDB type that reads a Glue column of type `hive` (`string`, `array<string>`,
    `map<string,int>`, `struct<a:int>`, `decimal(10,2)`), parsed by sqlglot's Hive dialect."""
    try:
        if hive.count("<") != hive.count(">"):
            raise ParseError("unbalanced < >")
        return _duckdb(exp.DataType.build(hive, dialect="hive"), hive)
    except ParseError as err:
        raise UnsupportedTypeError(f"cannot read column type {hive!r}: {err}") from err


def _duckdb(node: exp.DataType, hive: str) -> str:
    kind, args = node.this, node.expressions
    if kind == DType.ARRAY:
        return f"{_duckdb(args[0], hive)}[]"
    if kind == DType.MAP:
        return f"MAP({_duckdb(args[0], hive)}, {_duckdb(args[1], hive)})"
    if kind == DType.STRUCT:
        fields = [f'"{field.name}" {_duckdb(field.args["kind"], hive)}' for field in args]
        return f"STRUCT({', '.join(fields)})"
    if kind == DType.DECIMAL:
        precision, scale = ([int(arg.name) for arg in args] + [10, 0][len(args) :])[:2]
        return f"DECIMAL({precision}, {scale})"
    if kind not in _DUCKDB_PRIMITIVES:
        raise UnsupportedTypeError(f"unsupported column type {hive!r}")
    return _DUCKDB_PRIMITIVES[kind]


@dataclass(frozen=True)
class ResultColumn:
    """One column of a result set as Athena describes it (plain values, no DuckDB objects)."""

    name: str
    type: str
    precision: int = 0
    scale: int = 0

    @classmethod
    def of(cls, name: str, duck: duckdb.DuckDBPyType) -> ResultColumn:
        precision, scale = _precision_scale(duck)
        return cls(name, athena_type(duck), precision, scale)

    def column_info(self) -> dict[str, Any]:
        """The `ResultSetMetadata.ColumnInfo` entry Athena returns for this column."""
        return {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": self.name,
            "Label": self.name,
            "Type": self.type,
            "Precision": self.precision,
            "Scale": self.scale,
            "Nullable": "UNKNOWN",
            "CaseSensitive": self.type in ("varchar", "char"),
        }


_ATHENA_SIMPLE = {
    "boolean": "boolean",
    "tinyint": "tinyint",
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "hugeint": "bigint",
    "uhugeint": "bigint",
    "utinyint": "smallint",
    "usmallint": "integer",
    "uinteger": "bigint",
    "ubigint": "bigint",
    "float": "real",
    "double": "double",
    "decimal": "decimal",
    "varchar": "varchar",
    "blob": "varbinary",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamp_ms": "timestamp",
    "timestamp_s": "timestamp",
    "timestamp_ns": "timestamp",
    "timestamp with time zone": "timestamp with time zone",
    "interval": "interval day to second",
    "list": "array",
    "array": "array",
    "struct": "row",
    "map": "map",
    "json": "json",
    "uuid": "uuid",
    "null": "unknown",
}

_PRECISION = {
    "varchar": 2147483647,
    "bigint": 19,
    "integer": 10,
    "smallint": 5,
    "tinyint": 3,
    "double": 17,
    "real": 7,
    "timestamp": 3,
    "timestamp with time zone": 3,
    "time": 3,
}


def _type_id(duck: duckdb.DuckDBPyType) -> str:
    return str(duck.id).lower()


def _children(duck: duckdb.DuckDBPyType) -> list[tuple[str, Any]]:
    return list(duck.children)


def athena_type(duck: duckdb.DuckDBPyType) -> str:
    """The `ColumnInfo.Type` Athena reports for a value of this DuckDB type."""
    type_id = _type_id(duck)
    if type_id == "varchar" and str(duck).upper() == "JSON":
        return "json"
    return _ATHENA_SIMPLE.get(type_id, "varchar")


def _precision_scale(duck: duckdb.DuckDBPyType) -> tuple[int, int]:
    if _type_id(duck) == "decimal":
        params = dict(_children(duck))
        return int(params["precision"]), int(params["scale"])
    return _PRECISION.get(athena_type(duck), 0), 0


_PRESTO_NAMES = {
    "timestamp": "timestamp(3)",
    "timestamp with time zone": "timestamp(3) with time zone",
}


def presto_type(duck: duckdb.DuckDBPyType) -> str:
    """A scalar type in Presto notation (`timestamp(3) with time zone`), as Athena's errors name it
    (`hive_type` names nested and decimal types itself)."""
    name = athena_type(duck)
    return _PRESTO_NAMES.get(name, name)


_HIVE_FROM_DUCK = {
    "boolean": "boolean",
    "tinyint": "tinyint",
    "smallint": "smallint",
    "integer": "int",
    "bigint": "bigint",
    "hugeint": "bigint",
    "uhugeint": "bigint",
    "utinyint": "smallint",
    "usmallint": "int",
    "uinteger": "bigint",
    "ubigint": "bigint",
    "float": "float",
    "double": "double",
    "varchar": "string",
    "blob": "binary",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ms": "timestamp",
    "timestamp_s": "timestamp",
    "timestamp_ns": "timestamp",
}


def hive_type(duck: duckdb.DuckDBPyType) -> str:
    """The Glue column type a CTAS registers for a result column of this DuckDB type.

    Raises UnsupportedTypeError with Athena's message for types Hive tables cannot store, such
    as `timestamp with time zone` (Athena: "Unsupported Hive type: timestamp(3) with time zone").
    """
    type_id = _type_id(duck)
    if type_id in ("list", "array"):
        return f"array<{hive_type(_children(duck)[0][1])}>"
    if type_id == "map":
        key, value = (child for _, child in _children(duck))
        return f"map<{hive_type(key)},{hive_type(value)}>"
    if type_id == "struct":
        fields = ",".join(f"{name}:{hive_type(child)}" for name, child in _children(duck))
        return f"struct<{fields}>"
    if type_id == "decimal":
        precision, scale = _precision_scale(duck)
        return f"decimal({precision},{scale})"
    if type_id in _HIVE_FROM_DUCK:
        return _HIVE_FROM_DUCK[type_id]
    raise UnsupportedTypeError(f"Unsupported Hive type: {presto_type(duck)}")


def storage_cast(duck: duckdb.DuckDBPyType) -> str | None:
    """The DuckDB type to cast a result column to before writing it to a Hive table, if any."""
    type_id = _type_id(duck)
    if type_id in ("hugeint", "uhugeint", "uinteger", "ubigint"):
        return "BIGINT"
    if type_id == "usmallint":
        return "INTEGER"
    if type_id == "utinyint":
        return "SMALLINT"
    if type_id in ("timestamp_ms", "timestamp_s", "timestamp_ns"):
        return "TIMESTAMP"
    return None


def render(value: Any) -> str | None:
    """A result value as Athena's text form (None stays None: Athena omits VarCharValue)."""
    if value is None:
        return None
    return _render(value)


def _render(value: Any) -> str:
    if value is None:
        return "null"
    for kind, renderer in _RENDERERS:
        if isinstance(value, kind):
            return renderer(value)
    return str(value)


def _render_time(value: dt.time) -> str:
    return f"{value:%H:%M:%S}.{value.microsecond // 1000:03d}"


def _render_list(value: list[Any] | tuple[Any, ...]) -> str:
    return "[" + ", ".join(_render(item) for item in value) + "]"


def _render_dict(value: dict[Any, Any]) -> str:
    return "{" + ", ".join(f"{_render(k)}={_render(v)}" for k, v in value.items()) + "}"


def _render_bytes(value: bytes | bytearray | memoryview) -> str:
    return " ".join(f"{byte:02x}" for byte in bytes(value))


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        utc = value.astimezone(dt.UTC)
        return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d} UTC"
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond // 1000:03d}"


def _interval(value: dt.timedelta) -> str:
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    millis = value.microseconds // 1000
    return f"{sign}{value.days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def java_double(value: float) -> str:
    """A double as Java's Double.toString writes it, which is how Athena shows doubles."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    number = Decimal(repr(magnitude))
    digits = "".join(str(digit) for digit in number.as_tuple().digits).rstrip("0") or "0"
    mantissa = digits[0] + "." + (digits[1:] or "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}E{number.adjusted()}"


_RENDERERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    (bool, lambda value: "true" if value else "false"),
    (int, str),
    (float, java_double),
    (Decimal, str),
    (str, lambda value: value),
    (dt.datetime, _timestamp),
    (dt.date, lambda value: value.isoformat()),
    (dt.time, _render_time),
    (dt.timedelta, _interval),
    ((list, tuple), _render_list),
    (dict, _render_dict),
    ((bytes, bytearray, memoryview), _render_bytes),
    (uuid.UUID, str),
)
