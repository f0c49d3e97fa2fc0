"""Ports that stay the same across restarts of the local cloud on one state directory."""

from __future__ import annotations

import json
import socket

from localcloud.core.ports import LOOPBACK, port_is_free, reserved_port


def test_a_service_gets_the_same_port_again(tmp_path):
    first = reserved_port(tmp_path, "mqtt")
    assert reserved_port(tmp_path, "mqtt") == first
    assert reserved_port(tmp_path, "moto") != first
    assert json.loads((tmp_path / "ports.json").read_text())["mqtt"] == first


def test_a_port_someone_else_took_is_replaced_and_recorded(tmp_path):
    first = reserved_port(tmp_path, "athena")
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, first))
        squatter.listen()
        assert not port_is_free(first)
        moved = reserved_port(tmp_path, "athena")
    assert moved != first
    assert json.loads((tmp_path / "ports.json").read_text())["athena"] == moved
    assert reserved_port(tmp_path, "athena") == moved


def test_a_closed_listener_leaves_its_port_free_for_the_next_start(tmp_path):
    port = reserved_port(tmp_path, "opensearch")
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((LOOPBACK, port))
        server.listen()
        with socket.create_connection((LOOPBACK, port)):
            accepted, _ = server.accept()
            accepted.close()  # the server side closes first: its end goes to TIME_WAIT
    assert port_is_free(port)
    assert reserved_port(tmp_path, "opensearch") == port


def test_an_unreadable_ports_file_starts_afresh(tmp_path):
    (tmp_path / "ports.json").write_text("not json")
    port = reserved_port(tmp_path, "iot-data")
    assert json.loads((tmp_path / "ports.json").read_text()) == {"iot-data": port}
