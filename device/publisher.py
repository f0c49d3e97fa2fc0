"""The publisher: source -> spool -> MQTT, with nothing lost.

Two threads share the spool file (each with its own SQLite connection):

- the sampler iterates the source, builds readings, and commits them to the spool in batches,
  always before it waits for the next sample (so a `kill -9` loses nothing that was sampled);
- the sender (the caller's thread, `Publisher.run`) hands spooled readings to one MQTT
  connection per thing, oldest first, with at most `max_in_flight` unacknowledged and at most
  `rate_per_second` per connection, and deletes a reading only after its PUBACK.

After a restart every reading still in the spool is published again from the oldest; readings
that were PUBACKed but not yet deleted arrive twice and are removed downstream by
`(device_id, seq)`.

Alerts the cloud sends to a thing's alerts topic arrive as link events; the sender keeps the
current state per thing (`device.alerts.AlertBook`), shows the highest level on the LEDs
(`device.display.choose_state`) and records it for `status` (`alert_level`, `alerts`,
`last_alert_at`, `alerts_subscription`). Alert transitions are logged at INFO with an LED matrix
and at WARNING without one. A message that breaks the contract is logged and ignored.

A source that stamps readings with the system clock (sensehat, emulator) samples only while the
clock is synchronised, and the first reading after a clock step carries the flag `clock_jump`
(`device.clock_guard.ClockGuard`, with `clock_check` injectable for tests). The clock's state
goes to `status` (`clock`, `clock_detail`) and to the LEDs (a clock face, below the red cross).

The spool file (device/spool.py): an error reading or writing it, or the file deleted or
replaced under the running publisher (checked at every write and every 5 s), stops the publisher
with one log line naming the file, the operation and the reason, and exit code 74.

Exit codes: 0 when stopped (SIGTERM/SIGINT) or when a finite source is published completely;
78 (EX_CONFIG) for a setting that retrying cannot fix (missing certificate, a publish the broker
refuses as not authorized); 74 (EX_IOERR) when the spool file fails; 1 when the source fails.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import heapq
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from device.alerts import AlertBook, AlertError
from device.clock import ClockStatus, check_clock
from device.clock_guard import ClockGuard
from device.config import EXIT_CONFIG, ConfigError, Credentials, Settings, credentials_for
from device.display import State, StatusDisplay, choose_state
from device.ratelimit import TokenBucket
from device.reading import Sample, build_reading, encode
from device.sources.base import Pause, Source
from device.spool import EXIT_SPOOL, Spool, SpoolError
from device.transport import EventKind, LinkEvent, MqttLink, Outcome, classify_puback

log = logging.getLogger(__name__)

BATCH_LIMIT = 500  # readings per spool transaction when a source delivers faster than real time
RETRY_BACKOFF = (0.5, 30.0)  # seconds: first and largest pause of a lane after a failed publish
SUMMARY_EVERY = 60.0  # seconds between progress lines in the log
ACK_BATCH = 200  # PUBACKed readings deleted per spool transaction at most ...
ACK_EVERY = 0.5  # ... and at least this often (seconds) while PUBACKs arrive
SPOOL_CHECK_EVERY = 5.0  # seconds between checks that the spool file is still in place


class Link(Protocol):
    """What the sender needs from a connection (MqttLink, or a stand-in in unit tests)."""

    thing_name: str
    topic: str

    @property
    def connected(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish(self, payload: bytes) -> concurrent.futures.Future[Any]: ...


LinkFactory = Callable[[str, Credentials, Callable[[LinkEvent], None]], Link]


def mqtt_link_factory(settings: Settings) -> LinkFactory:
    def make(thing: str, credentials: Credentials, on_event: Callable[[LinkEvent], None]) -> Link:
        return MqttLink(thing, settings.mqtt, credentials, on_event)

    return make


def open_spool(settings: Settings, synchronous: str | None = None) -> Spool:
    s = settings.spool
    return Spool(
        path=Path(s.path).expanduser(),
        max_readings=s.max_readings,
        full_policy=s.full_policy,  # type: ignore[arg-type]
        synchronous=synchronous or s.synchronous,  # type: ignore[arg-type]
    )


@dataclass
class _Lane:
    """Sending state of one thing."""

    link: Link
    bucket: TokenBucket
    cursor: int = -1  # highest seq handed to the link in order
    inflight: set[int] = field(default_factory=set)
    retry: list[int] = field(default_factory=list)  # heap of seqs to send again
    caught_up: bool = False  # nothing in the spool beyond cursor (until new data arrives)
    paused_until: float = 0.0
    backoff: float = RETRY_BACKOFF[0]
    refused: bool = False  # the last connection attempt was refused (certificate, identity)


@dataclass
class _Counts:
    published: int = 0
    retried: int = 0
    dropped_oldest: int = 0
    refused_new: int = 0


class Publisher:
    """Runs a source into the spool and the spool out to MQTT until stopped or done."""

    def __init__(
        self,
        settings: Settings,
        source: Source,
        link_factory: LinkFactory | None = None,
        display: StatusDisplay | None = None,
        clock_check: Callable[[], ClockStatus] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.thing_name = settings.device.thing_name
        self._make_link = link_factory or mqtt_link_factory(settings)
        self.display = display or StatusDisplay(None)
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._lanes: dict[str, _Lane] = {}
        self._fatal: str | None = None
        self._exit_code = 0
        self._spool_broken = False  # after a SpoolError the spool is not touched again
        self._source_done = threading.Event()
        self._stop_sampling = threading.Event()
        self.counts = _Counts()
        self._last_full_log = 0.0
        self._state_written: dict[str, str | None] = {}
        self._pending_state: dict[str, str | None] = {}
        self._stopping = False
        self.alerts = AlertBook()
        self._subscriptions: dict[str, str] = {}  # thing -> "" (granted) or the refusal
        # Without LEDs the log is the only place an alert shows.
        has_leds = getattr(self.display, "matrix", None) is not None
        self._alert_log_level = logging.INFO if has_leds else logging.WARNING
        self.clock = self._clock_guard(clock_check)
        self._clock_lost = False  # the LEDs show the clock picture while True

    def _clock_guard(self, check: Callable[[], ClockStatus] | None) -> ClockGuard | None:
        """The guard for a source stamping readings with the system clock (else None)."""
        d = self.settings.device
        if not getattr(self.source, "uses_system_clock", False):
            return None
        floor = dt.date.fromisoformat(d.clock_floor)

        def system_clock() -> ClockStatus:
            return check_clock(floor)

        return ClockGuard(
            (check or system_clock) if d.require_clock_sync else None,
            jump_tolerance=d.clock_jump_seconds,
            interval=d.interval_seconds,
            on_change=lambda status: self._events.put(("clock", status)),
        )

    # -- sampler thread ----------------------------------------------------------------------
    def _sample(self, stop: threading.Event) -> None:
        try:
            spool = open_spool(self.settings)
        except SpoolError as err:
            self._events.put(("spool_failed", err))
            self._source_done.set()
            return
        factor = self.settings.device.temperature_factor
        decimals = self.settings.device.decimals
        batch: list[tuple[str, Callable[[int], bytes]]] = []

        def flush() -> None:
            if not batch:
                return
            result = spool.append(batch)
            batch.clear()
            self._events.put(("data", {device for device, _ in result.stored}))
            if result.dropped_oldest or result.refused_new:
                self._events.put(("full", result.dropped_oldest, result.refused_new))

        def builder(sample: Sample, device: str) -> Callable[[int], bytes]:
            return lambda seq: encode(build_reading(sample, device, seq, factor, decimals))

        def stopped() -> bool:
            return stop.is_set() or self._stop_sampling.is_set()

        guard = self.clock
        try:
            items = iter(self.source.items())
            while not stopped():
                if guard is not None and not guard.ready():
                    flush()  # nothing sampled waits in memory while the clock is wrong
                    stop.wait(guard.interval)
                    continue
                item = next(items, None)
                if item is None or stopped():
                    break
                if isinstance(item, Pause):
                    flush()
                    delay = item.until - time.monotonic()
                    if delay > 0 and (stop.wait(delay) or self._stop_sampling.is_set()):
                        break
                    continue
                if guard is not None:
                    item = guard.stamp(item)
                batch.append(
                    (
                        item.device_id or self.thing_name,
                        builder(item, item.device_id or self.thing_name),
                    )
                )
                if len(batch) >= BATCH_LIMIT:
                    flush()
            flush()
        except SpoolError as err:
            self._events.put(("spool_failed", err))
        except Exception as err:
            log.exception("the %s source failed", self.source.name)
            self._events.put(("source_failed", f"the {self.source.name} source failed: {err}"))
        finally:
            spool.close()
            self._source_done.set()
            self._events.put(("source_done",))

    # -- events from SDK threads -------------------------------------------------------------
    def _on_link_event(self, event: LinkEvent) -> None:
        self._events.put(("link", event))

    def _watch(self, device: str, seq: int, future: concurrent.futures.Future[Any]) -> None:
        future.add_done_callback(lambda f: self._events.put(("ack", device, seq, f)))

    # -- sender ------------------------------------------------------------------------------
    def _lane(self, device: str) -> _Lane:
        lane = self._lanes.get(device)
        if lane is None:
            credentials = credentials_for(self.settings, device)
            link = self._make_link(device, credentials, self._on_link_event)
            p = self.settings.publish
            lane = _Lane(link=link, bucket=TokenBucket(p.rate_per_second, p.burst))
            self._lanes[device] = lane
            log.info(
                "connecting %s to %s:%s",
                device,
                self.settings.mqtt.endpoint,
                self.settings.mqtt.port,
            )
            link.start()
        return lane

    def _handle(self, event: tuple[Any, ...], spool: Spool, acked: list[tuple[str, int]]) -> None:
        kind = event[0]
        if kind == "data":
            for device in event[1]:
                self._lane(device).caught_up = False
        elif kind == "ack":
            self._handle_ack(event[1], event[2], event[3], acked)
        elif kind == "link":
            self._handle_link(event[1])
        elif kind == "full":
            self._log_full(event[1], event[2], spool)
        elif kind == "clock":
            self._handle_clock(event[1])
        elif kind == "source_failed":
            self._fatal, self._exit_code = event[1], 1
        elif kind == "spool_failed":
            self._spool_failed(event[1])
        elif kind == "source_done":
            pass

    def _handle_ack(
        self,
        device: str,
        seq: int,
        future: concurrent.futures.Future[Any],
        acked: list[tuple[str, int]],
    ) -> None:
        lane = self._lanes[device]
        lane.inflight.discard(seq)
        try:
            result = future.result()
        except Exception as err:  # ack timeout, client stopped, ...
            if not self._stopping:
                log.debug("publish of %s seq %s failed (%s); will retry", device, seq, err)
                self._retry(lane, seq)
            return
        puback = getattr(result, "puback", None)
        reason = getattr(puback, "reason_code", None)
        outcome = classify_puback(reason)
        if outcome is Outcome.OK:
            acked.append((device, seq))
            lane.backoff = RETRY_BACKOFF[0]
            return
        text = f"{getattr(reason, 'name', reason)} {getattr(puback, 'reason_string', '') or ''}"
        if outcome is Outcome.FATAL:
            self._fatal = (
                f"the broker refused a publish to {lane.link.topic}: {text.strip()} "
                f"(is the certificate attached to thing {device!r} and its policy allowing "
                "this topic?). The reading stays in the spool."
            )
            self._exit_code = EXIT_CONFIG
            self._retry(lane, seq)
            return
        log.warning("publish to %s was not accepted (%s); retrying", lane.link.topic, text.strip())
        self._retry(lane, seq)

    def _retry(self, lane: _Lane, seq: int) -> None:
        heapq.heappush(lane.retry, seq)
        lane.caught_up = False
        lane.paused_until = time.monotonic() + lane.backoff
        lane.backoff = min(RETRY_BACKOFF[1], lane.backoff * 2)
        self.counts.retried += 1

    def _handle_link(self, event: LinkEvent) -> None:
        lane = self._lanes.get(event.thing)
        if lane is not None and event.kind in (EventKind.CONNECTED, EventKind.CONNECT_FAILED):
            lane.refused = event.refused
        if event.kind is EventKind.CONNECTED:
            log.info("%s connected", event.thing)
            self._write_state(connection="connected", last_error=None)
        elif event.kind is EventKind.CONNECT_FAILED:
            self._log_connection_problem(event.thing, f"cannot connect: {event.detail}")
        elif event.kind is EventKind.DISCONNECTED:
            if event.fatal:
                self._fatal = f"{event.thing} was disconnected: {event.detail}"
                self._exit_code = EXIT_CONFIG
            elif not self._stopping:
                self._log_connection_problem(event.thing, f"disconnected: {event.detail}")
        elif event.kind is EventKind.MESSAGE:
            self._handle_alert(event)
        elif event.kind in (EventKind.SUBSCRIBED, EventKind.SUBSCRIBE_FAILED):
            self._handle_suback(event)

    def _handle_alert(self, event: LinkEvent) -> None:
        """Apply one message from a thing's alerts topic; a bad one is logged and ignored."""
        try:
            update = self.alerts.receive(event.thing, event.topic, event.payload)
        except AlertError as err:
            log.warning("%s: ignored a message on %s: %s", event.thing, event.topic, err)
            return
        except Exception:  # a message must never stop the publisher
            log.exception("%s: ignored a message on %s", event.thing, event.topic)
            return
        if update.repeated:
            log.debug("%s (again)", update.describe())
        else:
            log.log(self._alert_log_level, "%s", update.describe())
        self._write_state(**self.alerts.as_state())

    def _spool_failed(self, err: SpoolError) -> None:
        """Stop because the spool file failed; it is not touched again."""
        self._spool_broken = True
        if not self._fatal:
            self._fatal = f"{err}. Stopping (exit {EXIT_SPOOL}); the systemd unit restarts it"
            self._exit_code = EXIT_SPOOL

    def _handle_clock(self, status: ClockStatus) -> None:
        """Record the clock's state for `status` and the LEDs (the guard has logged it)."""
        self._clock_lost = not status.synchronised
        since = "" if status.synchronised else f" since {_now_iso()}"
        self._write_state(
            clock=("synchronised" if status.synchronised else "not synchronised") + since,
            clock_detail=status.detail,
        )

    def _clock_state(self) -> str:
        """What `status` says about the clock before the first check."""
        if self.clock is None:
            return f"not checked (the {self.source.name} source's times come from its data)"
        if not self.clock.checking:
            return "not checked ([device] require_clock_sync = false)"
        return "checking"

    def _handle_suback(self, event: LinkEvent) -> None:
        refusal = event.detail if event.kind is EventKind.SUBSCRIBE_FAILED else ""
        if refusal and self._subscriptions.get(event.thing) != refusal:
            log.error(
                "%s: the broker refused the subscription to %s; its alerts cannot be shown (does "
                "the device policy allow subscribing to and receiving its alerts topic?). "
                "Publishing continues.",
                event.thing,
                refusal,
            )
        elif not refusal:
            log.info("%s receives its alerts on %s", event.thing, event.detail)
        self._subscriptions[event.thing] = refusal
        refused = sorted(f"{t}: {r}" for t, r in self._subscriptions.items() if r)
        self._write_state(
            alerts_subscription="refused (" + "; ".join(refused) + ")" if refused else "subscribed"
        )

    def _log_connection_problem(self, thing: str, message: str) -> None:
        text = f"{thing} {message}; readings are kept in the spool and sent once connected"
        if self._state_written.get("last_error") != text:
            log.error("%s", text)
        self._write_state(connection="disconnected", last_error=text)

    def _log_full(self, dropped: int, refused: int, spool: Spool) -> None:
        self.counts.dropped_oldest += dropped
        self.counts.refused_new += refused
        now = time.monotonic()
        if now - self._last_full_log >= SUMMARY_EVERY or self._last_full_log == 0.0:
            self._last_full_log = now
            log.warning(
                "spool full (%d readings, policy %s): %d oldest readings dropped and %d new "
                "readings refused since start",
                spool.max_readings,
                spool.full_policy,
                self.counts.dropped_oldest,
                self.counts.refused_new,
            )

    def _write_state(self, **values: str | None) -> None:
        changed = {k: v for k, v in values.items() if self._state_written.get(k) != v}
        if changed:
            self._state_written.update(changed)
            self._pending_state.update(changed)

    def _send(self, spool: Spool, now: float) -> float:
        """Hand readings to connected links; returns seconds until sending may be possible."""
        waits = [self._send_lane(device, lane, spool, now) for device, lane in self._lanes.items()]
        return max(0.0, min([1.0, *waits]))

    @staticmethod
    def _retries(
        device: str, lane: _Lane, spool: Spool, room: int
    ) -> list[tuple[int, bytes, bool]]:
        """Up to `room` readings to publish again: (seq, payload, True)."""
        rows: list[tuple[int, bytes, bool]] = []
        while lane.retry and len(rows) < room:
            seq = heapq.heappop(lane.retry)
            payload = spool.get(device, seq)  # None: dropped by the full policy meanwhile
            if payload is not None and seq not in lane.inflight:
                rows.append((seq, payload, True))
        return rows

    def _send_lane(self, device: str, lane: _Lane, spool: Spool, now: float) -> float:
        if not lane.link.connected or (lane.caught_up and not lane.retry):
            return 1.0
        if now < lane.paused_until:
            return lane.paused_until - now
        room = self.settings.publish.max_in_flight - len(lane.inflight)
        if room <= 0:
            return 1.0  # an ack event wakes the loop
        # With a backlog, send in bursts instead of waking for every single token.
        token_wait = lane.bucket.wait_time(min(room, lane.bucket.burst))
        if token_wait > 0:
            return token_wait
        rows = self._retries(device, lane, spool, room)
        if len(rows) < room:
            want = room - len(rows)
            fresh = spool.pending(device, lane.cursor, want)
            lane.caught_up = len(fresh) < want
            rows.extend((seq, payload, False) for seq, payload in fresh)
        granted = lane.bucket.take(len(rows))
        for seq, payload, is_retry in rows[:granted]:
            lane.inflight.add(seq)
            if not is_retry:
                lane.cursor = seq  # fresh rows come in seq order
            self._watch(device, seq, lane.link.publish(payload))
        for seq, _, is_retry in rows[granted:]:
            if is_retry:
                heapq.heappush(lane.retry, seq)
            else:
                lane.caught_up = False  # not sent: fetched again after the cursor
        if granted < len(rows):
            return lane.bucket.wait_time()
        return 1.0 if lane.caught_up else 0.0

    def _display_state(self, spool: Spool) -> tuple[State, int]:
        backlog = spool.size()
        lanes = list(self._lanes.values())
        error = bool(self._fatal) or any(lane.refused for lane in lanes)
        window = self.settings.publish.max_in_flight
        connected = (
            bool(lanes)
            and all(lane.link.connected for lane in lanes)
            and backlog <= window * len(lanes)
        )
        return choose_state(error, connected, self.alerts.level(), self._clock_lost), backlog

    def run(self, stop: threading.Event) -> int:
        """Publish until `stop` is set, a finite source is done and drained, or a fatal error."""
        # This connection only deletes PUBACKed readings and writes state: losing its last
        # transactions in a power cut means a few duplicates, never a loss, so it does not
        # wait for the disk. Inserts (the sampler's connection) use [spool] synchronous.
        spool = open_spool(self.settings, synchronous="normal")
        try:
            return self._run(stop, spool)
        finally:
            spool.close()

    def _run(self, stop: threading.Event, spool: Spool) -> int:
        try:
            self._open_lanes(spool)
            waiting = spool.size()
        except ConfigError as err:
            self._fatal, self._exit_code = str(err), EXIT_CONFIG
            return self._finish(spool, stop)
        except SpoolError as err:
            self._spool_failed(err)
            return self._finish(spool, stop)
        self._write_state(
            publisher="running",
            pid=str(os.getpid()),
            started_at=_now_iso(),
            connection="connecting",
            source=self.source.name,
            alerts_subscription=None,
            clock=self._clock_state(),
            clock_detail=None,
            **self.alerts.as_state(),  # until the retained alert arrives: none
        )
        log.info(
            "publishing from source %s; %d readings waiting in the spool %s",
            self.source.name,
            waiting,
            spool.path,
        )
        sampler = threading.Thread(target=self._sample, args=(stop,), name="sampler", daemon=True)
        sampler.start()
        acked: list[tuple[str, int]] = []
        try:
            self._loop(stop, spool, acked)
            self._acknowledge(spool, acked)
        except SpoolError as err:
            self._spool_failed(err)
        self._stop_sampling.set()
        sampler.join(timeout=10)
        self._report_pending(spool)
        return self._finish(spool, stop)

    def _report_pending(self, spool: Spool) -> None:
        """What the sampler reported after the sender's last look (a full spool, a failed source
        or spool) is logged and counted, not dropped with the queue; the other events stay
        queued, in order, for the PUBACK wait."""
        kept: list[tuple[Any, ...]] = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if event[0] in ("full", "source_failed", "spool_failed"):
                self._handle(event, spool, [])
            else:
                kept.append(event)
        for event in kept:
            self._events.put(event)

    def _loop(self, stop: threading.Event, spool: Spool, acked: list[tuple[str, int]]) -> None:
        """The sender: events, PUBACK bookkeeping, state, LEDs and publishing, until done."""
        wait = 0.0
        last_summary = time.monotonic()
        acks_due = 0.0
        file_check_due = time.monotonic() + SPOOL_CHECK_EVERY
        while True:
            try:
                event = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
                self._handle(event, spool, acked)
                while True:
                    self._handle(self._events.get_nowait(), spool, acked)
            except queue.Empty:
                pass
            except ConfigError as err:
                self._fatal, self._exit_code = str(err), EXIT_CONFIG
            now = time.monotonic()
            if acked and not acks_due:
                acks_due = now + ACK_EVERY
            finishing = self._source_done.is_set() and not self._inflight()
            if acked and (len(acked) >= ACK_BATCH or now >= acks_due or finishing):
                self._acknowledge(spool, acked)
                acks_due = 0.0
            self._flush_state(spool)
            self.display.show(*self._display_state(spool))
            if self._fatal or stop.is_set():
                break
            if self._source_done.is_set() and self._events.empty() and self._drained(spool):
                log.info("the %s source is done and every reading was PUBACKed", self.source.name)
                break
            wait = self._send(spool, time.monotonic())
            if acks_due:
                wait = min(wait, max(0.0, acks_due - time.monotonic()))
            if time.monotonic() - last_summary >= SUMMARY_EVERY:
                last_summary = time.monotonic()
                self._summary(spool)
            if time.monotonic() >= file_check_due:  # also while nothing is written
                file_check_due = time.monotonic() + SPOOL_CHECK_EVERY
                spool.check_file()

    def _open_lanes(self, spool: Spool) -> None:
        """Connect the source's devices and every device with readings left in the spool."""
        known = self.source.device_ids()
        for device in dict.fromkeys([*known, *spool.devices()]):
            if device in known or spool.pending(device, -1, 1):
                self._lane(device)

    def _summary(self, spool: Spool) -> None:
        log.info(
            "published %d readings so far; %d waiting in the spool; connected %d of %d",
            self.counts.published,
            spool.size(),
            sum(lane.link.connected for lane in self._lanes.values()),
            len(self._lanes),
        )

    def _inflight(self) -> bool:
        return any(lane.inflight for lane in self._lanes.values())

    def _drained(self, spool: Spool) -> bool:
        return not self._inflight() and spool.size() == 0

    def _acknowledge(self, spool: Spool, acked: list[tuple[str, int]]) -> None:
        """Delete PUBACKed readings from the spool (and empty `acked`)."""
        if acked:
            spool.acknowledge(acked)
            self.counts.published += len(acked)
            acked.clear()

    def _finish(self, spool: Spool, stop: threading.Event) -> int:
        """Wait briefly for in-flight PUBACKs, stop the links, record the final state."""
        self._stopping = True
        try:
            self._await_pubacks(spool)
        except SpoolError as err:
            self._spool_failed(err)
        for lane in self._lanes.values():
            lane.link.stop()
        backlog = self._final_backlog(spool)
        if self._fatal:
            log.error("%s", self._fatal)
            self._write_state(last_error=self._fatal)
            self.display.show(State.ERROR, backlog or 0)  # stays lit after the process ends
        else:
            self.display.clear()  # a stopped publisher must not look connected
        self._write_state(publisher="stopped", connection="stopped", stopped_at=_now_iso())
        if not self._spool_broken:
            try:
                self._flush_state(spool)
            except SpoolError as err:
                log.error("%s", err)
                self._exit_code = self._exit_code or EXIT_SPOOL
        waiting = "" if backlog is None else f", {backlog} waiting in the spool"
        log.info("stopped: %d readings published%s", self.counts.published, waiting)
        return self._exit_code

    def _await_pubacks(self, spool: Spool) -> None:
        """Handle events until nothing is in flight, for up to shutdown_grace_seconds."""
        deadline = time.monotonic() + self.settings.publish.shutdown_grace_seconds
        while any(lane.inflight for lane in self._lanes.values()) and not self._fatal:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            acked: list[tuple[str, int]] = []
            try:
                self._handle(self._events.get(timeout=remaining), spool, acked)
            except queue.Empty:
                break
            self._acknowledge(spool, acked)

    def _final_backlog(self, spool: Spool) -> int | None:
        """Readings left in the spool, or None when the spool cannot say."""
        if self._spool_broken:
            return None
        try:
            return spool.size()
        except SpoolError:
            return None

    def _flush_state(self, spool: Spool) -> None:
        if self._pending_state:
            spool.set_state(**self._pending_state)
            self._pending_state = {}


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
