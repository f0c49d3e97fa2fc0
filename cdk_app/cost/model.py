"""The estimate: each service's monthly cost at each fleet size, idle included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdk_app.config import PipelineSettings
from cdk_app.cost.prices import PriceList
from cdk_app.cost.services import monthly_costs
from cdk_app.cost.template_usage import StackFacts, read_facts
from cdk_app.cost.usage import Fleet, Usage, monthly_usage
from cdk_app.cost.workload import DEFAULT_ASSUMPTIONS, Assumptions, ReadingSizes, reading_sizes

FLEET_SIZES = (1, 100, 1_000, 10_000)


@dataclass(frozen=True)
class FleetCost:
    devices: int
    services: dict[str, float]
    usage: Usage

    @property
    def total(self) -> float:
        return sum(self.services.values())


@dataclass(frozen=True)
class Estimate:
    profile: str
    rate_hz: float
    facts: StackFacts
    sizes: ReadingSizes
    idle: FleetCost
    fleets: tuple[FleetCost, ...]
    settings: PipelineSettings

    def per_device(self, fleet: FleetCost) -> float:
        """What each device adds: the month's cost above idle, divided by the devices."""
        return (fleet.total - self.idle.total) / fleet.devices

    def all_in_per_device(self, fleet: FleetCost) -> float:
        return fleet.total / fleet.devices


def estimate(
    template: Mapping[str, Any],
    settings: PipelineSettings,
    prices: PriceList,
    rate_hz: float = 1.0,
    fleet_sizes: Sequence[int] = FLEET_SIZES,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
) -> Estimate:
    facts = read_facts(template)
    sizes = reading_sizes(settings.device_names[0])
    seconds = prices.hours_per_month * 3600

    def cost(devices: int) -> FleetCost:
        fleet = Fleet(devices=devices, rate_hz=rate_hz, seconds=seconds)
        usage = monthly_usage(facts, fleet, sizes, settings.raw_retention_days, assumptions)
        return FleetCost(devices, monthly_costs(facts, usage, sizes, prices), usage)

    return Estimate(
        profile=settings.profile,
        rate_hz=rate_hz,
        facts=facts,
        sizes=sizes,
        idle=cost(0),
        fleets=tuple(cost(n) for n in fleet_sizes),
        settings=settings,
    )
