"""The price list: one JSON file, each price with the page it came from and the date checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PRICE_FILE = Path(__file__).with_name("prices-us-east-1.json")


@dataclass(frozen=True)
class Price:
    usd: float
    source: str
    checked: str
    status: str


@dataclass(frozen=True)
class PriceList:
    region: str
    checked: str
    hours_per_month: float
    prices: dict[str, Price]

    def __getitem__(self, key: str) -> float:
        try:
            return self.prices[key].usd
        except KeyError:
            raise KeyError(f"no price {key!r} in the price list ({PRICE_FILE.name})") from None

    def has(self, key: str) -> bool:
        return key in self.prices

    def unconfirmed(self) -> list[str]:
        return sorted(k for k, p in self.prices.items() if "not confirmed" in p.status)


def load_prices(path: Path = PRICE_FILE) -> PriceList:
    data = json.loads(path.read_text(encoding="utf-8"))
    prices = {
        key: Price(
            usd=float(entry["usd"]),
            source=str(entry["source"]),
            checked=str(entry["checked"]),
            status=str(entry["status"]),
        )
        for key, entry in data["prices"].items()
    }
    return PriceList(
        region=str(data["region"]),
        checked=str(data["checked"]),
        hours_per_month=float(data["hours_per_month"]),
        prices=prices,
    )
