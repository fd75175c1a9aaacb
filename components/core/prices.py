"""The price table: one region's prices from `core/data/prices.json`, with its fallbacks.

The file carries its date and sources per commercial region (`make prices` regenerates
it); a region without a price of its own is priced from the file's fallback region, and
the table records what it took from there so the line can say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["PRICES_FILE", "CostError", "PriceTable", "known_regions", "load_prices", "parse_prices"]

PRICES_FILE = "prices.json"


class CostError(ValueError):
    """A price the estimate needs is missing; the message names what and where."""


@dataclass(frozen=True)
class PriceTable:
    """One region's prices (USD), with the fallback region's for what it lacks."""

    region: str
    date: str
    currency: str
    hours_per_month: float
    instances: Mapping[str, float]
    """On-demand Linux price per hour by instance type, the region's own."""
    rates: Mapping[str, float]
    """Every other price, by its key in the data file, the region's own (or uniform)."""
    sources: Mapping[str, Any]
    fallback_instances: Mapping[str, float] = field(default_factory=dict)
    fallback_rates: Mapping[str, float] = field(default_factory=dict)
    fallback_region: Mapping[str, str] = field(default_factory=dict)
    """The region each kind (`ec2`, `rates`) falls back to."""
    used_fallbacks: list[str] = field(default_factory=list, compare=False)
    """What the line being priced took from the fallback region (reset per line)."""

    def rate(self, key: str) -> float:
        if key in self.rates:
            return self.rates[key]
        if key in self.fallback_rates:
            self.used_fallbacks.append(f"{key} of {self.fallback_region['rates']}")
            return self.fallback_rates[key]
        raise CostError(f"price {key!r} is missing for {self.region} and its fallback region")

    def instance(self, instance_type: str, where: str) -> float:
        if instance_type in self.instances:
            return self.instances[instance_type]
        if instance_type in self.fallback_instances:
            self.used_fallbacks.append(f"{instance_type} of {self.fallback_region['ec2']}")
            return self.fallback_instances[instance_type]
        raise CostError(
            f"{where}: no on-demand price for instance type {instance_type!r} in "
            f"{self.region} or its fallback region (prices of {self.date}); "
            "`make prices` regenerates them from the AWS Price List API"
        )


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    text = (resources.files("components.core.data") / PRICES_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def known_regions() -> list[str]:
    """The commercial regions the price file covers (own prices or fallback)."""
    return sorted(_document()["regions"])


def load_prices(region: str) -> PriceTable:
    """The price table of `region`. A region the file does not list gets an empty table
    (every line unknown, naming the region) rather than an error: the preview still runs."""
    return parse_prices(_document(), region)


def parse_prices(document: Mapping[str, Any], region: str) -> PriceTable:
    regions: Mapping[str, Any] = document["regions"]
    own = regions.get(region)
    fallback = dict(document.get("fallback", {}))
    uniform = {
        k: v
        for k, v in regions.get(fallback.get("rates", ""), {}).get("rates", {}).items()
        if k in document.get("uniformRates", {})
    }
    if own is None:
        return PriceTable(
            region=region,
            date=str(document["date"]),
            currency=str(document.get("currency", "USD")),
            hours_per_month=float(document.get("hours_per_month", 730)),
            instances={},
            rates={},
            sources=dict(document.get("sources", {})),
        )
    fallback_ec2 = regions.get(fallback.get("ec2", ""), {}).get("ec2_on_demand_hourly", {})
    fallback_rates = regions.get(fallback.get("rates", ""), {}).get("rates", {})
    return PriceTable(
        region=region,
        date=str(document["date"]),
        currency=str(document.get("currency", "USD")),
        hours_per_month=float(document.get("hours_per_month", 730)),
        instances={k: float(v) for k, v in own.get("ec2_on_demand_hourly", {}).items()},
        rates={**uniform, **{k: float(v) for k, v in own.get("rates", {}).items()}},
        sources=dict(document.get("sources", {})),
        fallback_instances={k: float(v) for k, v in fallback_ec2.items()},
        fallback_rates={k: float(v) for k, v in fallback_rates.items()},
        fallback_region=fallback,
    )
