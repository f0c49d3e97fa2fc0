"""`python -m device status`: what the spool and the last publisher run report.

Reads the spool file only (the publisher may be running): readings waiting per device, the next
`seq` per device, counters (PUBACKs received, readings dropped or refused because the spool was
full), the time of the last PUBACK, the connection state and the last error, and the alert
state the cloud last sent (device/alerts.py): the overall level, the level per metric and the
time of the last alert per thing, and whether the broker granted the alerts subscription; and
the system clock as the publisher last saw it (`synchronised`, `not synchronised since ...`
with the evidence, or why it is not checked; device/clock_guard.py). A publisher that is not
running reports the alert and clock state it last knew.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from device.spool import Spool


def _alive(pid: str | None) -> bool:
    if not pid or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alerts(raw: str | None) -> dict[str, Any]:
    """The per-thing alert state recorded by the publisher (an empty dict when there is none)."""
    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def status_report(spool_path: Path) -> dict[str, Any]:
    """The status as plain data; SpoolError if there is no spool at `spool_path`."""
    spool = Spool(spool_path, create=False)
    try:
        stats = spool.stats()
    finally:
        spool.close()
    state = stats.state
    running = state.get("publisher") == "running" and _alive(state.get("pid"))
    return {
        "spool": str(spool_path),
        "spool_bytes": sum(
            p.stat().st_size
            for p in (spool_path, *(Path(f"{spool_path}-{x}") for x in ("journal", "wal")))
            if p.exists()
        ),
        "backlog": stats.size,
        "backlog_by_device": stats.pending_by_device,
        "next_seq": stats.next_seq,
        "pubacks": stats.published,
        "dropped_oldest": stats.dropped_oldest,
        "refused_new": stats.refused_new,
        "last_puback_at": state.get("last_puback_at"),
        "publisher": "running" if running else "not running",
        "pid": state.get("pid") if running else None,
        "source": state.get("source"),
        "connection": state.get("connection") if running else "none (publisher not running)",
        "last_error": state.get("last_error"),
        "alert_level": state.get("alert_level") or "normal",
        "alerts": _alerts(state.get("alerts")),
        "last_alert_at": state.get("last_alert_at"),
        "alerts_subscription": state.get("alerts_subscription") if running else None,
        "clock": state.get("clock"),
        "clock_detail": state.get("clock_detail"),
    }


def _clock_line(report: dict[str, Any]) -> list[str]:
    """`clock: not synchronised since ... (evidence)`; nothing from a publisher of old."""
    if not report["clock"]:
        return []
    known = "" if report["publisher"] == "running" else " (last known)"
    detail = f": {report['clock_detail']}" if report["clock_detail"] else ""
    return [f"clock:          {report['clock']}{known}{detail}"]


def _alert_lines(report: dict[str, Any]) -> list[str]:
    """The alert level, then one line per thing that has had an alert."""
    known = "" if report["publisher"] == "running" else " (last known)"
    when = report["last_alert_at"]
    lines = [
        f"alert level:    {report['alert_level']}{known}"
        + (f", last alert {when}" if when else ", no alert received"),
    ]
    if report["alerts_subscription"]:
        lines.append(f"alerts topic:   {report['alerts_subscription']}")
    for thing, data in sorted(report["alerts"].items()):
        levels = ", ".join(f"{m} {lv}" for m, lv in sorted(data.get("levels", {}).items()))
        lines.append(f"  {thing}: {data.get('device_level')} ({levels or 'no metric'})")
        if data.get("last_alert"):
            lines.append(f"    last alert at {data.get('last_alert_at')}: {data['last_alert']}")
    return lines


def format_status(report: dict[str, Any]) -> str:
    """Human-readable lines, one per fact."""
    lines = [
        f"spool:          {report['spool']} ({report['spool_bytes']} bytes)",
        f"backlog:        {report['backlog']} readings waiting for a PUBACK",
    ]
    for device, count in sorted(report["backlog_by_device"].items()):
        lines.append(f"  {device}: {count} waiting, next seq {report['next_seq'].get(device)}")
    lines += [
        f"publisher:      {report['publisher']}"
        + (f" (pid {report['pid']}, source {report['source']})" if report["pid"] else ""),
        f"connection:     {report['connection']}",
        f"last PUBACK:    {report['last_puback_at'] or 'never'}",
        f"PUBACKs:        {report['pubacks']}",
        f"spool full:     {report['dropped_oldest']} oldest dropped, "
        f"{report['refused_new']} new refused",
        f"last error:     {report['last_error'] or 'none'}",
        *_clock_line(report),
        *_alert_lines(report),
    ]
    return "\n".join(lines)
