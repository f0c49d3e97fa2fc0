import pytest
from device_fakes import CountingMatrix

from device.alerts import Level
from device.config import load_settings
from device.display import (
    AMBER,
    BLUE,
    GREEN,
    OFF,
    RED,
    State,
    StatusDisplay,
    backlog_rows,
    choose_state,
    render,
)
from device.sources import open_source


def test_connected_is_a_green_tick():
    pixels = render(State.CONNECTED)
    assert len(pixels) == 64
    assert {tuple(p) for p in pixels} == {tuple(GREEN), tuple(OFF)}


def test_error_is_a_red_cross_on_both_diagonals():
    pixels = render(State.ERROR)
    assert all(pixels[i * 8 + i] == RED and pixels[i * 8 + 7 - i] == RED for i in range(8))


def test_clock_not_synchronised_is_a_blue_clock_face_unlike_every_other_picture():
    pixels = render(State.CLOCK_NOT_SYNCHRONISED)
    assert {tuple(p) for p in pixels} == {tuple(BLUE), tuple(OFF)}
    others = [render(s, 12_345) for s in State if s is not State.CLOCK_NOT_SYNCHRONISED]
    assert pixels not in others


def test_the_clock_picture_yields_only_to_the_red_cross():
    assert choose_state(True, True, Level.CRITICAL, True) is State.ERROR
    assert choose_state(False, True, Level.CRITICAL, True) is State.CLOCK_NOT_SYNCHRONISED
    assert choose_state(False, False, Level.NORMAL, True) is State.CLOCK_NOT_SYNCHRONISED
    assert choose_state(False, True, Level.WARNING, False) is State.ALERT_WARNING
    assert choose_state(False, True, Level.NORMAL) is State.CONNECTED


@pytest.mark.parametrize(
    ("backlog", "rows"), [(0, 0), (1, 1), (9, 1), (10, 2), (86_400, 5), (10**7, 8), (10**12, 8)]
)
def test_buffering_lights_one_row_per_digit_of_the_backlog(backlog, rows):
    assert backlog_rows(backlog) == rows
    pixels = render(State.BUFFERING, backlog)
    lit = [r for r in range(8) if pixels[r * 8] == AMBER]
    assert lit == list(range(8 - rows, 8))


def test_redraws_only_when_the_picture_changes():
    matrix = CountingMatrix()
    display = StatusDisplay(matrix)
    display.show(State.BUFFERING, 120)
    display.show(State.BUFFERING, 300)  # same number of digits: same picture
    display.show(State.CONNECTED, 3)
    display.show(State.CONNECTED, 0)
    assert len(matrix.frames) == 2


def test_no_matrix_means_no_display():
    StatusDisplay(None).show(State.ERROR)  # nothing to draw on, nothing raised


def rgb565(pixel):
    r, g, b = pixel
    return [r & 0xF8, g & 0xFC, b & 0xF8]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_states_reach_the_emulated_sense_hat_matrix():
    env = {"DEVICE_SOURCE": "emulator", "DEVICE_THING_NAME": "desk"}
    source = open_source(load_settings(None, environ=env))
    try:
        matrix = source.led_matrix()
        display = StatusDisplay(matrix)
        states = [
            (State.CONNECTED, 0),
            (State.BUFFERING, 4321),
            (State.ERROR, 0),
            (State.CLOCK_NOT_SYNCHRONISED, 0),
        ]
        for state, backlog in states:
            display.show(state, backlog)
            assert matrix.get_pixels() == [rgb565(p) for p in render(state, backlog)]
    finally:
        source.close()
