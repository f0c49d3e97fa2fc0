"""AWS IoT SQL as the local rule engine evaluates it (examples from the AWS IoT SQL reference)."""

import base64
import json
import re
import uuid

import pytest

from cdk_app.ingest import RULE_ERROR_PREFIX, RULE_SQL
from localcloud.iot.sql import (
    UNDEFINED,
    Message,
    PayloadParseError,
    SqlError,
    parse,
    parse_expression,
    parse_template,
    topic_matches,
)

CONTRACT_SQL = (
    "SELECT encode(*, 'base64') AS payload, topic(2) AS thing_name, "
    "timestamp() AS arrival_ms, clientid() AS client_id FROM 'sensors/+/telemetry'"
)


def msg(payload, topic="topic/subtopic", client_id="client-1", timestamp_ms=1_700_000_000_000):
    if not isinstance(payload, bytes):
        payload = json.dumps(payload).encode()
    return Message(topic=topic, payload=payload, client_id=client_id, timestamp_ms=timestamp_ms)


def run(sql, payload, **kwargs):
    return parse(sql).evaluate(msg(payload, **kwargs))


def value(expression, payload=None, **kwargs):
    return parse_expression(expression).evaluate(msg(payload or {}, **kwargs))


# --- the pipeline's own rule -------------------------------------------------------------------


def test_contract_rule_wraps_any_payload_in_the_envelope():
    raw = b"\xff not json at all \x00"
    out = run(CONTRACT_SQL, raw, topic="sensors/sensehat-01/telemetry", client_id="sensehat-01")
    assert out == {
        "payload": base64.b64encode(raw).decode(),
        "thing_name": "sensehat-01",
        "arrival_ms": 1_700_000_000_000,
        "client_id": "sensehat-01",
    }


def test_contract_rule_keeps_json_payload_bytes_exactly():
    raw = b'{"seq": 1,   "temperature": 21.50}'
    out = run(CONTRACT_SQL, raw, topic="sensors/a/telemetry")
    assert base64.b64decode(out["payload"]) == raw


@pytest.mark.parametrize(
    "topic", ["sensors/a/alerts", "sensors/telemetry", "sensors/a/b/telemetry", "other/a/telemetry"]
)
def test_contract_rule_ignores_other_topics(topic):
    assert run(CONTRACT_SQL, {"a": 1}, topic=topic) is None


def test_contract_rule_needs_no_json():
    assert parse(CONTRACT_SQL).needs_json is False


# --- SELECT ------------------------------------------------------------------------------------


def test_select_star_returns_the_payload():
    assert run("SELECT * FROM 'topic/subtopic'", {"color": "red", "temperature": 50}) == {
        "color": "red",
        "temperature": 50,
    }


def test_select_fields_and_aliases():
    payload = {"color": "red", "temperature": 50}
    assert run("SELECT color AS my_color, temperature FROM 'topic/subtopic'", payload) == {
        "my_color": "red",
        "temperature": 50,
    }


def test_select_star_with_extra_items():
    out = run("SELECT *, topic() AS t, 3 AS three FROM 'topic/#'", {"a": 1})
    assert out == {"a": 1, "t": "topic/subtopic", "three": 3}


def test_nested_fields_and_array_indexes():
    payload = {"a": {"b": {"c": 7}}, "list": [10, {"x": "y"}]}
    out = run("SELECT a.b.c, list[1].x AS x, list[0] AS first FROM 'topic/subtopic'", payload)
    assert out == {"c": 7, "x": "y", "first": 10}


def test_undefined_fields_are_left_out_of_the_output():
    out = run("SELECT missing, a.nothing AS n, a FROM 'topic/subtopic'", {"a": 1})
    assert out == {"a": 1}


def test_null_is_a_value_not_undefined():
    assert run("SELECT a, NULL AS n FROM 'topic/subtopic'", {"a": None}) == {"a": None, "n": None}


def test_literals():
    out = run(
        "SELECT 'it''s' AS s, 2.5 AS d, 3 AS i, true AS t, false AS f, 1e3 AS e FROM 'a'",
        {},
        topic="a",
    )
    assert out == {"s": "it's", "d": 2.5, "i": 3, "t": True, "f": False, "e": 1000.0}


def test_keywords_are_case_insensitive():
    assert run("select a as b from 'topic/+'", {"a": 2}) == {"b": 2}


# --- WHERE and operators: the stack's rule uses none -------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM 'a' WHERE a > 1", "WHERE is not supported by the local evaluator"),
        ("SELECT a + 1 AS b FROM 'a'", "ADD is not supported by the local evaluator"),
        ("SELECT a = 1 AS b FROM 'a'", "EQ is not supported by the local evaluator"),
        ("SELECT NOT a AS b FROM 'a'", "NOT is not supported by the local evaluator"),
        ("SELECT -a AS b FROM 'a'", "NEG is not supported by the local evaluator"),
        ("SELECT isNull(a) AS b FROM 'a'", "function isNull() is not supported"),
        ("SELECT parse_time('HH', 0) AS b FROM 'a'", "function parse_time() is not supported"),
    ],
)
def test_where_and_operators_are_refused(sql, message):
    with pytest.raises(SqlError, match=re.escape(message)):
        parse(sql)


# --- functions ---------------------------------------------------------------------------------


def test_topic_levels_are_one_based():
    topic = "sensors/sensehat-01/telemetry"
    assert value("topic()", topic=topic) == topic
    assert value("topic(1)", topic=topic) == "sensors"
    assert value("topic(3)", topic=topic) == "telemetry"
    assert value("topic(4)", topic=topic) is UNDEFINED
    assert value("topic(0)", topic=topic) is UNDEFINED


def test_clientid_timestamp_newuuid():
    assert value("clientid()", client_id="sensehat-01") == "sensehat-01"
    assert value("timestamp()", timestamp_ms=123) == 123
    first, second = value("newuuid()"), value("newuuid()")
    assert uuid.UUID(first).version == 4
    assert first != second


def test_encode_of_a_value_and_of_the_payload():
    assert base64.b64decode(value("encode(name, 'base64')", {"name": "héllo"})) == "héllo".encode()
    assert base64.b64decode(value("encode(obj, 'base64')", {"obj": {"a": 1}})) == b'{"a":1}'
    assert value("encode(missing, 'base64')") is UNDEFINED
    assert value("encode(name, 'hex')", {"name": "x"}) is UNDEFINED


# --- binary payloads (AWS: "Working with binary payloads") -------------------------------------


def test_select_star_passes_a_binary_payload_through():
    raw = b"\x00\x01binary"
    assert run("SELECT * FROM 'topic/subtopic'", raw) == raw


def test_functions_only_work_on_binary_payloads():
    out = run("SELECT encode(*, 'base64') AS data, timestamp() AS ts FROM 'topic/subtopic'", b"80x")
    assert out == {"data": base64.b64encode(b"80x").decode(), "ts": 1_700_000_000_000}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT *, timestamp() AS ts FROM 'topic/subtopic'",
        "SELECT temperature FROM 'topic/subtopic'",
        "SELECT encode(temperature, 'base64') AS t FROM 'topic/subtopic'",
    ],
)
def test_json_names_on_a_binary_payload_are_a_parse_error(sql):
    with pytest.raises(PayloadParseError, match="payload is not JSON"):
        run(sql, b"\xffnot json")


def test_json_names_on_a_json_payload_that_is_not_an_object_are_undefined():
    assert run("SELECT a FROM 'topic/subtopic'", b"[1, 2]") == {}
    assert run("SELECT * FROM 'topic/subtopic'", b"80") == b"80"


# --- topic filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("sensors/+/telemetry", "sensors/a/telemetry", True),
        ("sensors/+/telemetry", "sensors//telemetry", True),
        ("sensors/+/telemetry", "sensors/a/b/telemetry", False),
        ("sensors/#", "sensors", True),
        ("sensors/#", "sensors/a/b", True),
        ("#", "anything/at/all", True),
        ("#", "$aws/things/x", False),
        ("+/things/x", "$aws/things/x", False),
        ("$aws/things/x", "$aws/things/x", True),
        ("a/b", "a/b/", False),
        ("a/+", "a", False),
    ],
)
def test_topic_filter_matching(topic_filter, topic, matches):
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize("bad", ["sensors/#/x", "sensors/a#", "sensors/a+/x", ""])
def test_invalid_topic_filters_are_rejected(bad):
    with pytest.raises(SqlError, match="topic filter"):
        parse(f"SELECT * FROM '{bad}'")


# --- what the evaluator refuses ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT principal() AS p FROM 'a'", "function principal() is not supported"),
        ("SELECT aws_lambda('arn', *) AS x FROM 'a'", "function aws_lambda() is not supported"),
        ("SELECT topic(1, 2) AS t FROM 'a'", "topic() takes 0 to 1 arguments, got 2"),
        ("SELECT timestamp() FROM 'a'", "needs a name: add 'AS <name>'"),
        ("SELECT VALUE a FROM 'a'", "SELECT VALUE is not supported"),
        ("SELECT CASE a WHEN 1 THEN 2 END AS x FROM 'a'", "CASE is not supported"),
        ("SET @x = 1 SELECT * FROM 'a'", "SET is not supported"),
        ("SELECT {'a': 1} AS o FROM 'a'", "object and array literals are not supported"),
        ("SELECT topic(*) AS x FROM 'a'", "topic() does not take '*'"),
        ("SELECT a FROM 'a' WHERE", "cannot parse near 'WHERE' (line 1, column 23)"),
        ("SELECT a 'a'", "cannot parse near \"'a'\" (line 1, column 12)"),
        ("SELECT a", "expected FROM 'topic/filter'"),
        ("SELECT a FROM topic", "FROM needs a 'topic/filter' string in quotes, found 'topic'"),
        ("SELECT a FROM 'a' junk", "unexpected 'junk' after the FROM topic filter"),
        ("SELECT a ; FROM 'a'", "';' is not supported"),
        ("SELECT a FROM 'a';", "';' is not supported"),
        ("", "empty"),
    ],
)
def test_unsupported_or_malformed_sql_is_refused_with_a_reason(sql, message):
    with pytest.raises(SqlError, match=re.escape(message)):
        parse(sql)


def test_a_field_called_value_is_still_a_field():
    assert run("SELECT value FROM 'topic/subtopic'", {"value": 3}) == {"value": 3}


# --- substitution templates ---------------------------------------------------------------------


def test_templates_render_expressions_against_the_message():
    message = msg({"seq": 5}, topic="sensors/sensehat-01/telemetry", timestamp_ms=42)
    template = parse_template("errors/iot-rule/${topic(2)}/${timestamp()}-${seq}.json")
    assert template.render(message) == "errors/iot-rule/sensehat-01/42-5.json"
    assert parse_template("${topic(2)}").render(message) == "sensehat-01"
    assert parse_template("plain").render(message) == "plain"
    assert parse_template("x-${missing}-y").render(message) == "x--y"
    assert parse_template("${'}'}").render(message) == "}"


def test_newuuid_in_a_template_differs_per_render():
    template = parse_template("k/${newuuid()}")
    message = msg({})
    assert template.render(message) != template.render(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [("${topic(2)", "without a closing"), ("${nope()}", "function nope() is not supported")],
)
def test_bad_templates_are_refused(text, message):
    with pytest.raises(SqlError, match=re.escape(message)):
        parse_template(text)


# --- reading the statement: names, brackets, quotes and topics ----------------------------------


def test_the_stack_rule_and_its_templates_parse_and_run():
    message = msg(b"\x00raw", topic="sensors/sensehat-01/telemetry", client_id="sensehat-01")
    assert run(RULE_SQL, b"\x00raw", topic=message.topic, client_id="sensehat-01") == {
        "payload": base64.b64encode(b"\x00raw").decode(),
        "thing_name": "sensehat-01",
        "arrival_ms": 1_700_000_000_000,
        "client_id": "sensehat-01",
    }
    assert parse_template("${topic(2)}").render(message) == "sensehat-01"
    key = parse_template(RULE_ERROR_PREFIX + "${timestamp()}-${newuuid()}.json").render(message)
    assert re.fullmatch(rf"{RULE_ERROR_PREFIX}1700000000000-[0-9a-f-]{{36}}\.json", key)


def test_a_bracket_indexes_the_field_before_it():
    payload = {"a": {"b": [{"c": 1}, {"c": 2}], "n": [[5, 6]]}}
    out = run("SELECT a.b[0] AS first, a.b[1].c AS c, a.n[0][1] AS six FROM 'topic/+'", payload)
    assert out == {"first": {"c": 1}, "c": 2, "six": 6}
    assert value("a.b[2]", payload) is UNDEFINED
    assert value("a.b[0]", {"a": {"b": "not a list"}}) is UNDEFINED


@pytest.mark.parametrize(
    "name", ["list", "array", "map", "timestamp", "date", "json", "value", "on", "all", "with"]
)
def test_sql_type_and_keyword_names_are_ordinary_fields(name):
    payload = {name: [{"x": 1}, {"x": 2}]}
    sql = f"SELECT {name}[1].x AS x, {name} FROM 'topic/subtopic'"
    assert run(sql, payload) == {"x": 2, name: payload[name]}


def test_timestamp_the_function_and_timestamp_the_field():
    out = run("SELECT timestamp() AS now, timestamp FROM 'topic/subtopic'", {"timestamp": 5})
    assert out == {"now": 1_700_000_000_000, "timestamp": 5}


def test_deeply_nested_fields():
    payload = {"a": {"b": {"c": {"d": {"e": {"f": "deep"}}}}}}
    assert run("SELECT a.b.c.d.e.f FROM 'topic/subtopic'", payload) == {"f": "deep"}
    assert value("a.b.c.d.e.f", payload) == "deep"
    assert value("a.b.x.d.e.f", payload) is UNDEFINED


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("'it''s'", "it's"),
        ("''''", "'"),
        ("''", ""),
        ("'say \"hi\"'", 'say "hi"'),
        ("'a -- b /* c */; d'", "a -- b /* c */; d"),
        ("'FROM ''x'' WHERE'", "FROM 'x' WHERE"),
        ("'sensors/+/#'", "sensors/+/#"),
        ("'back\\slash'", "back\\slash"),
    ],
)
def test_string_literals(literal, expected):
    assert run(f"SELECT {literal} AS s FROM 'topic/subtopic'", {}) == {"s": expected}


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        (
            "$aws/rules/sensor_ingest/sensors/+/telemetry",
            "$aws/rules/sensor_ingest/sensors/a/telemetry",
            True,
        ),
        ("$aws/things/+/shadow/update/#", "$aws/things/t-1/shadow/update/accepted", True),
        ("$aws/things/+/shadow/update/#", "$aws/things/t-1/shadow/get", False),
        ("sensors/#", "sensors/a/b/c", True),
        ("#", "$aws/things/t-1/shadow/update", False),
    ],
)
def test_from_topic_filters_with_dollar_and_wildcards(topic_filter, topic, matches):
    statement = parse(f"SELECT * FROM '{topic_filter}'")
    assert statement.topic_filter == topic_filter
    assert (statement.evaluate(msg({"a": 1}, topic=topic)) is not None) is matches


def test_star_with_nested_fields_and_functions():
    out = run("SELECT *, a.b AS ab, topic(1) AS t FROM 'topic/#'", {"a": {"b": 1}, "c": 2})
    assert out == {"a": {"b": 1}, "c": 2, "ab": 1, "t": "topic"}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT b IN (1, 2) AS a FROM 'a'", "IN is not supported"),
        ("SELECT b IS NULL AS a FROM 'a'", "IS is not supported"),
        ("SELECT a || b AS c FROM 'a'", "DPIPE is not supported"),
        ("SELECT cast(a AS int) AS c FROM 'a'", "CAST is not supported"),
        ("SELECT upper(a) AS u FROM 'a'", "function upper() is not supported"),
        ("SELECT [1, 2] AS l FROM 'a'", "object and array literals are not supported"),
        ("SELECT a FROM 'a' ORDER BY a", "ORDER is not supported"),
        ("SELECT a FROM 'a', 'b'", "JOINS is not supported"),
        ("SELECT a b FROM 'a'", "cannot parse near 'b'"),
        ("SELECT * AS x FROM 'a'", "'*' is supported only as a SELECT item or a function"),
        ("SELECT a.* FROM 'a'", "field name '*' is not supported"),
        ("SELECT \"a\" FROM 'a'", "field name '\"a\"' is not supported"),
        ("SELECT a['k'] AS k FROM 'a'", "array index \"'k'\" is not an integer"),
        ("SELECT a[1.5] AS k FROM 'a'", "array index '1.5' is not an integer"),
        ("SELECT topic(2).x AS x FROM 'a'", "is not a field"),
        ("SELECT a FROM 'a' -- note", "comments are not supported"),
        ("SELECT a /* note */ FROM 'a'", "comments are not supported"),
        ("SELECT 'open FROM 'a'", "cannot read the statement"),
        ("SELECT a FROM 'a/#/b'", "'#' must be the whole last level"),
        ("SELECT FROM 'a'", "expected SELECT items"),
        ("SELECT between FROM 'a'", "cannot parse near 'FROM'"),
    ],
)
def test_what_the_local_subset_refuses_is_named(sql, message):
    with pytest.raises(SqlError, match=re.escape(message)):
        parse(sql)
