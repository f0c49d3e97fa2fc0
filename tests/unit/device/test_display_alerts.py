"""The alert pictures on the LED matrix and their precedence over the connection pictures."""

import itertools

import pytest
from device_fakes import CountingMatrix

from device.alerts import Level
from device.display import AMBER, OFF, RED, State, StatusDisplay, choose_state, render


@pytest.mark.parametrize(
    ("state", "colour"), [(State.ALERT_WARNING, AMBER), (State.ALERT_CRITICAL, RED)]
)
def test_an_alert_is_a_warning_sign_in_its_colour(state, colour):
    pixels = render(state)
    assert {tuple(p) for p in pixels} == {tuple(colour), tuple(OFF)}
    assert pixels[3] == pixels[4] == colour  # the apex of the triangle
    assert all(pixels[56 + col] == colour for col in range(8))  # its base
    assert pixels[6 * 8 + 3] == pixels[6 * 8 + 4] == OFF  # the dot of the exclamation mark


def test_every_picture_differs():
    pictures = [render(state, 5) for state in State]
    assert all(a != b for a, b in itertools.combinations(pictures, 2))


@pytest.mark.parametrize("connected", [True, False])
@pytest.mark.parametrize("alert", list(Level))
def test_the_error_cross_wins_over_everything(connected, alert):
    assert choose_state(True, connected, alert) is State.ERROR


@pytest.mark.parametrize("connected", [True, False])
def test_an_alert_replaces_the_connected_and_buffering_pictures(connected):
    assert choose_state(False, connected, Level.WARNING) is State.ALERT_WARNING
    assert choose_state(False, connected, Level.CRITICAL) is State.ALERT_CRITICAL


def test_without_an_alert_the_connection_picture_shows():
    assert choose_state(False, True, Level.NORMAL) is State.CONNECTED
    assert choose_state(False, False, Level.NORMAL) is State.BUFFERING


def test_the_matrix_goes_amber_red_and_back_to_the_tick():
    matrix = CountingMatrix()
    display = StatusDisplay(matrix)
    for level in (Level.NORMAL, Level.WARNING, Level.WARNING, Level.CRITICAL, Level.NORMAL):
        display.show(choose_state(False, True, level))
    assert matrix.frames == [
        render(State.CONNECTED),
        render(State.ALERT_WARNING),
        render(State.ALERT_CRITICAL),
        render(State.CONNECTED),
    ]
