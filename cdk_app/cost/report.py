"""`make cost`'s output: a table per profile (a line per service, a column per fleet size), the
machine-readable COST lines, and the notes that say where the estimate stretches."""

from __future__ import annotations

import math

from cdk_app.cost.levers import basic_ingest_saving, search_path_cost
from cdk_app.cost.model import Estimate, FleetCost
from cdk_app.cost.prices import PRICE_FILE, PriceList

SMALL_IDLE_GOAL_USD = 60.0  # issue 15: one Pi, the small profile, idle
FLEET_PER_DEVICE_GOAL_USD = 2.0  # issue 15: the fleet profile at 1,000 devices
GOAL_FLEET_SIZE = 1_000


def money(value: float) -> str:
    return f"{value:,.2f}"


def devices_label(devices: int) -> str:
    return f"{devices:,} device" + ("" if devices == 1 else "s")


def table(e: Estimate) -> list[str]:
    columns = [e.idle, *e.fleets]
    heads = ["idle", *(devices_label(f.devices) for f in e.fleets)]
    width = max(len(s) for s in e.idle.services) + 2
    cells = [max(12, len(h) + 2) for h in heads]

    def row(label: str, values: list[str]) -> str:
        return label.ljust(width) + "".join(v.rjust(c) for v, c in zip(values, cells, strict=True))

    lines = [row("USD per month", heads)]
    for service in e.idle.services:
        lines.append(row(service, [money(c.services[service]) for c in columns]))
    lines.append(row("total", [money(c.total) for c in columns]))
    lines.append(row("per device, above idle", ["", *(money(e.per_device(f)) for f in e.fleets)]))
    lines.append(
        row("per device, all in", ["", *(money(e.all_in_per_device(f)) for f in e.fleets)])
    )
    return lines


def cost_line(e: Estimate, fleet: FleetCost) -> str:
    return (
        f"COST profile={e.profile} devices={fleet.devices} rate_hz={e.rate_hz:g} "
        f"idle_usd_month={e.idle.total:.2f} per_device_usd_month={e.per_device(fleet):.2f}"
    )


def notes(e: Estimate) -> list[str]:
    """Where a fleet outgrows a setting, and what the model assumes."""
    found: list[str] = []
    s = e.settings
    for fleet in e.fleets:
        u = fleet.usage
        if e.facts.kinesis_mode == "PROVISIONED" and u.shards_needed > (
            e.facts.kinesis_shards or 1
        ):
            found.append(
                f"{devices_label(fleet.devices)}: the stream needs {u.shards_needed} shards "
                f"(kinesisShardCount={s.kinesis_shard_count}); costed with {u.shards_needed}"
            )
        if u.search_volume_gib_needed > e.facts.search_volume_gib:
            found.append(
                f"{devices_label(fleet.devices)}: {s.search_index_retention_days} days of "
                f"documents need {math.ceil(u.search_volume_gib_needed):,} GiB per OpenSearch node "
                f"(searchVolumeGiB={s.search_volume_gib}); costed at that size; larger or more "
                "nodes (searchInstanceType, searchInstanceCount) are not modelled"
            )
    ingest = "allowed" if e.facts.basic_ingest else "not allowed"
    found.append(
        f"Basic Ingest topics ($aws/rules/...) are {ingest} by the template's device policy: "
        + ("no IoT messaging charge" if e.facts.basic_ingest else "every reading bills a message")
    )
    z = e.sizes
    found.append(
        f"a reading: {z.payload_bytes} B payload, {z.envelope_bytes} B Kinesis record, "
        f"{z.raw_line_bytes} B raw line (GZIP to {z.gzip_ratio:.0%}); a month is "
        "730 hours; Lambda durations and log bytes are assumptions (cdk_app/cost/workload.py)"
    )
    found.append(
        "compaction: each batch runs a discover query and a CTAS whose de-duplication reads the "
        "key columns of the compacted batches whose seconds meet its own, about one batch's rows "
        "(cdk_app/cost/usage.py, dedup_scan_bytes)"
    )
    return found


def goals(e: Estimate, p: PriceList) -> list[str]:
    """Issue 15's goals for the profile, and what the parts that keep it from one cost."""
    if e.profile == "small":
        met = "met" if e.idle.total <= SMALL_IDLE_GOAL_USD else "NOT met"
        return [
            f"GOAL small idle at most ${SMALL_IDLE_GOAL_USD:.0f}/month: "
            f"{money(e.idle.total)} ({met})"
        ]
    fleet = next((f for f in e.fleets if f.devices == GOAL_FLEET_SIZE), None)
    if e.profile != "fleet" or fleet is None:
        return []
    above, all_in = e.per_device(fleet), e.all_in_per_device(fleet)
    met = "met" if all_in <= FLEET_PER_DEVICE_GOAL_USD else "NOT met"
    lines = [
        f"GOAL fleet at most ${FLEET_PER_DEVICE_GOAL_USD:.0f} per device-month at "
        f"{GOAL_FLEET_SIZE:,} devices: {money(above)} above idle, {money(all_in)} all in ({met})"
    ]
    if met == "met":
        return lines
    basic = basic_ingest_saving(e, fleet, p)
    if basic:
        lines.append(
            f"GOAL lever: Basic Ingest (not in this template) saves {money(basic)} per device: "
            f"{money(all_in - basic)} all in"
        )
    search = search_path_cost(e, fleet, p)
    lines.append(
        f"GOAL lever: the search path (Firehose to OpenSearch, the domain, its VPC endpoints "
        f"and tunnel) costs {money(search)} per device all in; without it (not done): "
        f"{money(all_in - basic - search)}"
    )
    return lines


def render(e: Estimate, prices: PriceList) -> str:
    unconfirmed = len(prices.unconfirmed())
    header = (
        f"Monthly cost, profile {e.profile}, {e.rate_hz:g} reading/s per device, "
        f"{prices.region} list prices checked {prices.checked} ({PRICE_FILE.name}: "
        f"{unconfirmed} of {len(prices.prices)} as remembered, not confirmed)"
    )
    lines = [header, "", *table(e), ""]
    lines += [cost_line(e, f) for f in e.fleets]
    lines += goals(e, prices)
    lines += ["", *(f"note: {n}" for n in notes(e))]
    return "\n".join(lines)
