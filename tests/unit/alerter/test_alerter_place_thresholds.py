"""Threshold sets per place (site, building, floor, room of the device registry): the most
specific scope wins, device before room before floor before building before site before `*`."""

import pytest

from alerter.places import places_from_json_lines
from alerter.thresholds import ThresholdConfig, ThresholdError, place_scopes, resolve

ROOM = "home/main/0/kitchen"


def config(**levels):
    """A context with a humidity set whose warningHigh names its scope."""
    places = {path: {"humidity": {"warningHigh": high}} for path, high in levels.items()}
    return ThresholdConfig.from_context(
        {
            "default": {"humidity": {"warningHigh": 60}},
            "places": places,
            "devices": {"pi-a": {"humidity": {"warningHigh": 99}}},
        }
    )


def test_a_device_s_place_scopes_go_from_its_room_to_its_site():
    assert place_scopes(ROOM) == [
        "place/home/main/0/kitchen",
        "place/home/main/0",
        "place/home/main",
        "place/home",
    ]
    assert place_scopes(None) == [] == place_scopes("")


def test_the_most_specific_scope_wins():
    context = config(**{"home": 70, "home/main": 75, "home/main/0": 80, ROOM: 85})
    empty = ThresholdConfig({})

    def high(device, place, table=empty):
        found = resolve(device, "humidity", table, context, place)
        return found.threshold_set.warning_high, found.source

    assert high("pi-a", ROOM) == (99, "context:pi-a")  # the device's own
    assert high("pi-b", ROOM) == (85, "context:place/home/main/0/kitchen")
    assert high("pi-b", "home/main/0/hall") == (80, "context:place/home/main/0")
    assert high("pi-b", "home/main/1") == (75, "context:place/home/main")
    assert high("pi-b", "home/annex") == (70, "context:place/home")
    assert high("pi-b", "office") == (60, "context:*")
    assert high("pi-b", None) == (60, "context:*")
    table = ThresholdConfig.from_context(
        {"places": {"home/main": {"humidity": {"warningHigh": 77}}}}
    )
    # the run-time table wins within one scope, never over a more specific one
    assert high("pi-b", "home/main/1", table) == (77, "table:place/home/main")
    assert high("pi-b", ROOM, table) == (85, "context:place/home/main/0/kitchen")


def test_places_round_trip_through_the_context_form():
    context = config(**{"home/main": 75})
    assert context.to_context()["places"] == {
        "home/main": {"humidity": {"warningHigh": 75, "hysteresis": 0}}
    }
    assert ThresholdConfig.from_context(context.to_context()) == context


@pytest.mark.parametrize(
    ("places", "message"),
    [
        ({"": {}}, "'' is not a place"),
        ({"a//b": {}}, "'a//b' is not a place"),
        ({"a/b/c/d/e": {}}, "is not a place: site"),
        ({"home": {"humidty": {"warningHigh": 1}}}, "'humidty' is not a metric"),
        ({"home": []}, "places.home must be an object"),
        ([], "places must be an object"),
    ],
)
def test_a_bad_place_set_says_what_is_wrong(places, message):
    with pytest.raises(ThresholdError, match=message):
        ThresholdConfig.from_context({"places": places})


def test_a_device_name_with_a_slash_is_refused():
    with pytest.raises(ThresholdError, match="not a thing name"):
        ThresholdConfig.from_context({"devices": {"home/main": {}}})


def test_the_registry_object_gives_each_device_its_place_and_skips_what_it_cannot_read():
    text = (
        '{"device_id": "pi-a", "place": "home/main/0/kitchen"}\n'
        '{"device_id": "pi-b", "place": null}\n'
        "not json\n"
        '{"place": "home"}\n'
        "\n"
    )
    places, skipped = places_from_json_lines(text)
    assert places == {"pi-a": "home/main/0/kitchen"}
    assert [reason[:18] for reason in skipped] == ["line 3: not JSON (", "line 4: not an obj"]
