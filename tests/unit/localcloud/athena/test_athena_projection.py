"""Partition projection as Athena documents it: types, ranges, formats, templates."""

import datetime as dt

import pytest

from localcloud.athena.projection import ProjectionError, projection_of

NOW = dt.datetime(2024, 3, 5, 10, 30)
RAW = {
    "projection.enabled": "true",
    "projection.dt.type": "date",
    "projection.dt.range": "2024-03-01,NOW",
    "projection.dt.format": "yyyy-MM-dd",
    "projection.hour.type": "integer",
    "projection.hour.range": "0,23",
    "projection.hour.digits": "2",
    "storage.location.template": "s3://data/raw/dt=${dt}/hour=${hour}/",
}


def raw_projection(**overrides):
    parameters = {**RAW, **overrides}
    return projection_of("sensors.raw", parameters, ["dt", "hour"], "s3://data/raw/")


def test_disabled_or_missing_projection_is_none():
    assert projection_of("t", {}, ["dt"], "s3://b/t/") is None
    assert projection_of("t", {"projection.enabled": "false"}, ["dt"], "s3://b/t/") is None


def test_keys_match_the_template_with_values_inside_the_projection():
    projection = raw_projection()
    assert projection.match("raw/dt=2024-03-02/hour=07/stream-1-2024.gz", NOW) == (
        {"dt": "2024-03-02", "hour": "07"},
        "stream-1-2024.gz",
    )
    assert (
        projection.match("raw/dt=2024-03-02/hour=07/sub/folder/f.gz", NOW)[1] == "sub/folder/f.gz"
    )


@pytest.mark.parametrize(
    "key",
    [
        "raw/dt=2024-03-02/hour=7/f.gz",  # digits: 2
        "raw/dt=2024-03-02/hour=24/f.gz",  # out of range
        "raw/dt=2024-02-29/hour=07/f.gz",  # before the range
        "raw/dt=2024-03-06/hour=07/f.gz",  # after NOW
        "raw/dt=2024-3-2/hour=07/f.gz",  # not the format
        "raw/dt=2024-03-02/f.gz",  # not the template
        "errors/dt=2024-03-02/hour=07/f.gz",
    ],
)
def test_keys_outside_the_projection_do_not_match(key):
    assert raw_projection().match(key, NOW) is None


def test_prefixes_narrow_to_what_the_query_pins_down():
    projection = raw_projection()
    assert projection.prefixes({"dt": None, "hour": None}) == ["raw/dt="]
    assert projection.prefixes({"dt": ["2024-03-02"], "hour": None}) == ["raw/dt=2024-03-02/hour="]
    assert projection.prefixes({"dt": ["2024-03-02"], "hour": ["07", "08"]}) == [
        "raw/dt=2024-03-02/hour=07/",
        "raw/dt=2024-03-02/hour=08/",
    ]
    assert projection.prefixes({"dt": [], "hour": None}) == []


def test_too_many_prefixes_fall_back_to_a_shorter_one():
    projection = raw_projection()
    days = [f"2024-03-{day:02d}" for day in range(1, 5)]
    hours = [f"{hour:02d}" for hour in range(24)]
    assert projection.prefixes({"dt": days, "hour": hours}) == [
        f"raw/dt={day}/hour=" for day in days
    ]


def test_date_candidates_honour_the_range_and_the_filter():
    spec = raw_projection().columns["dt"]
    every = spec.candidates(lambda raw: True, NOW)
    assert every == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]
    assert spec.candidates(lambda raw: raw >= "2024-03-04", NOW) == [
        "2024-03-04",
        "2024-03-05",
    ]


def test_integer_candidates_are_formatted_with_digits():
    spec = raw_projection().columns["hour"]
    assert spec.candidates(lambda raw: int(raw) < 3, NOW) == ["00", "01", "02"]


def test_relative_ranges_and_intervals():
    projection = raw_projection(
        **{"projection.dt.range": "NOW-2DAYS,NOW", "projection.dt.interval": "2"}
    )
    spec = projection.columns["dt"]
    assert spec.candidates(lambda raw: True, NOW) == ["2024-03-03", "2024-03-05"]
    assert spec.valid("2024-03-03", NOW)
    assert not spec.valid("2024-03-04", NOW)  # not on the 2-day interval
    assert not spec.valid("2024-03-02", NOW)


def test_hourly_date_format_with_slashes():
    projection = projection_of(
        "logs",
        {
            "projection.enabled": "true",
            "projection.ts.type": "date",
            "projection.ts.range": "2024/03/05/00,NOW",
            "projection.ts.format": "yyyy/MM/dd/HH",
            "projection.ts.interval.unit": "HOURS",
            "storage.location.template": "s3://data/logs/${ts}/",
        },
        ["ts"],
        "s3://data/logs/",
    )
    assert projection.match("logs/2024/03/05/09/part.gz", NOW) == (
        {"ts": "2024/03/05/09"},
        "part.gz",
    )
    assert projection.match("logs/2024/03/05/11/part.gz", NOW) is None  # after NOW
    assert projection.columns["ts"].candidates(lambda raw: True, NOW)[-1] == "2024/03/05/10"


def test_default_template():
    projection = projection_of(
        "t",
        {
            "projection.enabled": "true",
            "projection.n.type": "integer",
            "projection.n.range": "1,2",
        },
        ["n"],
        "s3://data/t",
    )
    assert projection.template == "s3://data/t/n=${n}/"
    assert projection.match("t/n=1/x.json", NOW) == ({"n": "1"}, "x.json")
    assert projection.match("t/n=3/x.json", NOW) is None


@pytest.mark.parametrize("kind", ["enum", "injected"])
def test_enum_and_injected_projections_are_refused(kind):
    with pytest.raises(ProjectionError, match="INVALID_TABLE_PROPERTY: unsupported"):
        projection_of(
            "t",
            {"projection.enabled": "true", "projection.device.type": kind},
            ["device"],
            "s3://data/t/",
        )


def test_a_partition_column_without_projection_config_is_an_error():
    parameters = {key: value for key, value in RAW.items() if not key.startswith("projection.hour")}
    with pytest.raises(ProjectionError, match=r"missing projection configuration: \['hour'\]"):
        projection_of("sensors.raw", parameters, ["dt", "hour"], "s3://data/raw/")


def test_a_template_missing_a_column_is_an_error():
    with pytest.raises(ProjectionError, match="must contain templates for all partition columns"):
        raw_projection(**{"storage.location.template": "s3://data/raw/dt=${dt}/"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("projection.dt.range", "2024-03-01", "two comma-separated values"),
        ("projection.dt.format", "yyyy-QQ", "letter 'Q'"),
        ("projection.hour.range", "a,b", "not two integers"),
        ("projection.hour.type", "geo", "unsupported projection.hour.type"),
    ],
)
def test_invalid_properties_are_reported(key, value, message):
    with pytest.raises(ProjectionError, match=message):
        raw_projection(**{key: value})


def test_a_range_may_end_after_now():
    projection = raw_projection(**{"projection.dt.range": "2024-03-04,NOW+1DAYS"})
    assert projection.columns["dt"].candidates(lambda raw: True, NOW) == [
        "2024-03-04",
        "2024-03-05",
        "2024-03-06",
    ]
    assert projection.match("raw/dt=2024-03-06/hour=00/f.gz", NOW) is not None
    assert projection.match("raw/dt=2024-03-07/hour=00/f.gz", NOW) is None
