"""Reading the gateway's admin endpoints in tests."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway


async def scrape(gateway: Gateway) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{gateway.admin_port}/metrics") as r:
        assert r.status == 200
        return await r.text()


async def metric(gateway: Gateway, name: str, **labels: str) -> float:
    """The value of one sample (summed over the labels not given), 0 when absent."""
    total = 0.0
    for family in text_string_to_metric_families(await scrape(gateway)):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
