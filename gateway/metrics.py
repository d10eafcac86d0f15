"""Every Prometheus metric of the gateway, defined once; labels come from small fixed sets.

No metric carries a charge box id: a fleet of thousands would explode the series count.

The two metrics touched for every frame (`gateway_messages`, `gateway_call_duration_seconds`) are
counted in plain Python objects and turned into Prometheus samples only when scraped: a
prometheus_client child takes a lock and walks its buckets in Python on every update, which cost
several microseconds per relayed call. The exposition (names, types, labels, values, `_created`
series, histogram buckets) is the same as prometheus_client's own Counter and Histogram produce.
Cells are updated on the event loop thread only; scrapes run there too.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Final, final

import prometheus_client.metrics as _prometheus_metrics
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from gateway.core import schemas
from gateway.core.dialects import Dialect

#: Round trips through the gateway: sub-millisecond relays up to slow chargers.
_RTT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


_CHILD_CACHE_LIMIT: Final = 4096


def action_label(dialect: Dialect, action: str) -> str:
    """The action as a label value: a hostile peer's invented actions all count as "unknown"."""
    return action if action in schemas.actions(dialect) else "unknown"


#: prometheus_client's formatting of the `le` label (untyped there).
_go_float: Final[Callable[[float], str]] = floatToGoString


def _created_series() -> bool:
    # prometheus_client's switch (PROMETHEUS_DISABLE_CREATED_SERIES, disable_created_metrics()).
    return bool(getattr(_prometheus_metrics, "_use_created", True))


@final
class CounterCell:
    """One label set of a PlainCounter; the hot path adds to `value` directly."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


@final
class HistogramCell:
    """One label set of a PlainHistogram: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("_bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        # The first bucket whose upper bound is >= amount, as prometheus_client's Histogram; NaN lands in none.
        if amount == amount:
            self.counts[bisect_left(self._bounds, amount)] += 1
        self.sum += amount


class _PlainFamily:
    """A labelled metric family counted in plain Python and exported at scrape time (a custom collector)."""

    _type = ""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)

    def describe(self) -> Iterable[Metric]:
        return [Metric(self._name, self._documentation, self._type)]

    def _labels(self, values: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(self._labelnames, values, strict=True))

    @staticmethod
    def _key(values: tuple[object, ...], width: int) -> tuple[str, ...]:
        if len(values) != width:
            raise ValueError("Incorrect label count")
        return tuple(str(v) for v in values)


@final
class PlainCounter(_PlainFamily):
    """A labelled counter: `labels(...)` gives a CounterCell."""

    _type = "counter"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        super().__init__(name, documentation, labelnames)
        self._cells: dict[tuple[str, ...], CounterCell] = {}

    def labels(self, *values: object) -> CounterCell:
        key = self._key(values, len(self._labelnames))
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = CounterCell()
        return cell

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self._name, self._documentation, self._type)
        created = _created_series()
        for values, cell in list(self._cells.items()):
            labels = self._labels(values)
            metric.add_sample(self._name + "_total", labels, cell.value)
            if created:
                metric.add_sample(self._name + "_created", labels, cell.created)
        return [metric]


@final
class PlainHistogram(_PlainFamily):
    """A labelled histogram: `labels(...)` gives a HistogramCell."""

    _type = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]) -> None:
        super().__init__(name, documentation, labelnames)
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = tuple(bounds)
        self._le = tuple(_go_float(b) for b in bounds)
        self._cells: dict[tuple[str, ...], HistogramCell] = {}

    def labels(self, *values: object) -> HistogramCell:
        key = self._key(values, len(self._labelnames))
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = HistogramCell(self._bounds)
        return cell

    def collect(self) -> Iterable[Metric]:
        name = self._name
        metric = Metric(name, self._documentation, self._type)
        created = _created_series()
        for values, cell in list(self._cells.items()):
            labels = self._labels(values)
            total = 0.0
            for le, count in zip(self._le, list(cell.counts), strict=True):
                total += count
                metric.add_sample(name + "_bucket", {**labels, "le": le}, total)
            metric.add_sample(name + "_count", labels, total)
            if self._bounds[0] >= 0:
                metric.add_sample(name + "_sum", labels, cell.sum)
            if created:
                metric.add_sample(name + "_created", labels, cell.created)
        return [metric]


@final
class Metrics:
    """The gateway's metrics, registered in their own registry (one per gateway instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.chargers_connected = Gauge(
            "gateway_chargers_connected", "Chargers connected, by dialect", ["dialect"], registry=r
        )
        self.upstream_connected = Gauge(
            "gateway_upstream_connections", "Upstream CSMS connections that are open", registry=r
        )
        self.messages = PlainCounter(
            "gateway_messages",
            "OCPP messages by leg (charger|csms), direction (in|out), dialect, action and kind (call|result|error)",
            ["leg", "direction", "dialect", "action", "kind"],
        )
        r.register(self.messages)
        self.call_errors = Counter(
            "gateway_call_errors", "CALLERRORs sent, by receiving leg and code", ["leg", "code"], registry=r
        )
        self.schema_violations = Counter(
            "gateway_schema_violations",
            "Messages failing their official schema: inbound (refused) or emitted (built by us, never sent)",
            ["origin", "dialect", "action"],
            registry=r,
        )
        self.upstream_reconnects = Counter(
            "gateway_upstream_reconnects", "Upstream connections re-established after a loss", registry=r
        )
        self.upstream_failures = Counter(
            "gateway_upstream_connect_failures",
            "Failed upstream dials, by reason (refused|unavailable: HTTP 408, 429, 5xx|unreachable|timeout)",
            ["reason"],
            registry=r,
        )
        self.charger_refusals = Counter(
            "gateway_charger_connections_refused",
            "Charger connection attempts refused, by reason",
            ["reason"],
            registry=r,
        )
        self.replies_dropped = Counter(
            "gateway_replies_dropped",
            "Replies matching no outstanding call, by leg and reason (late|unknown)",
            ["leg", "reason"],
            registry=r,
        )
        self.call_duration = PlainHistogram(
            "gateway_call_duration_seconds",
            "Time from a call entering the gateway to its answer leaving it, by origin leg and outcome",
            ["origin", "outcome"],
            buckets=_RTT_BUCKETS,
        )
        r.register(self.call_duration)
        self.soap_faults = Counter(
            "gateway_soap_faults",
            "SOAP faults sent to chargers (sent) or received from them (received), by OCPP subcode",
            ["direction", "subcode"],
            registry=r,
        )
        self.soap_calls = Counter(
            "gateway_soap_charger_calls",
            "CSMS-initiated calls posted to SOAP chargers, by outcome (result|fault|unreachable|no_endpoint|bad_reply)",
            ["outcome"],
            registry=r,
        )
        self.tunnels_connected = Gauge(
            "gateway_tunnels_connected", "Tunnel agents connected and registered (one per site at most)", registry=r
        )
        self.tunnel_calls = Counter(
            "gateway_tunnel_calls",
            "HTTP exchanges carried through tunnels, by direction (to_charger: CSMS-initiated calls; "
            "from_charger: chargers' own requests) and outcome (ok|error|timeout|dropped|no_agent|overloaded)",
            ["direction", "outcome"],
            registry=r,
        )
        self.tunnel_refusals = Counter(
            "gateway_tunnel_refusals",
            "What the gateway refused from tunnel agents, by reason (unknown_site|bad_token|not_websocket|"
            "no_register|foreign_charger|bad_url|unregistered_identity|bad_frame)",
            ["reason"],
            registry=r,
        )
        self.overload_refusals = Counter(
            "gateway_overload_refusals",
            "Requests refused because a back-pressure bound was reached, by the configuration key of that "
            "bound (limits.max_queued_calls|outbox.max_messages|soap.max_concurrent_requests|"
            "tunnel.max_requests_in_flight)",
            ["limit"],
            registry=r,
        )
        self.csms_away_calls = Counter(
            "gateway_csms_away_calls",
            "Charger calls made while the CSMS was unreachable, by action and policy (answered: by the gateway; "
            "queued: in the durable outbox, answered at once; held: waits for the CSMS in memory; refused: "
            "CALLERROR at once), see docs/reliability.md",
            ["action", "policy"],
            registry=r,
        )
        self.csms_away_closes = Counter(
            "gateway_csms_away_closes",
            "Charger connections closed (1013) because the CSMS stayed unreachable for upstream.offline_close_after",
            registry=r,
        )
        self.outbox_entries = Gauge(
            "gateway_outbox_entries",
            "Entries in all chargers' outboxes (stored, not yet taken by the CSMS); entries of chargers that do "
            "not reconnect stay here",
            registry=r,
        )
        self.outbox_appended = Counter(
            "gateway_outbox_appended",
            "Calls put in a charger's durable outbox (the CSMS away, or earlier ones still waiting), by action",
            ["action"],
            registry=r,
        )
        self.outbox_replayed = Counter(
            "gateway_outbox_replayed",
            "Attempts at sending an outbox entry to the CSMS, by outcome (result|error|timeout|unavailable)",
            ["outcome"],
            registry=r,
        )
        self.outbox_dropped = Counter(
            "gateway_outbox_dropped",
            "Outbox entries removed undelivered, by reason (full: oldest meter sample dropped for room; refused: "
            "outbox.max_attempts CALLERRORs; invalid: fails the schema; stale: queued for another upstream dialect)",
            ["reason"],
            registry=r,
        )
        self.internal_errors = Counter(
            "gateway_internal_errors", "Unexpected exceptions caught while serving a charger", registry=r
        )

        #: messages cells by (leg, direction, dialect, action, kind) as the runner has them (action not yet
        #: mapped to "unknown"): one dict lookup per frame. Read-only outside this class; see `message`.
        self.message_cells: dict[tuple[str, str, str, str, str], CounterCell] = {}
        #: call_duration cells by (origin, outcome).
        self.duration_cells: dict[tuple[str, str], HistogramCell] = {}

    def message(self, leg: str, direction: str, dialect: Dialect, action: str, kind: str) -> CounterCell:
        """The messages counter cell for these labels; cached because it is hit for every frame."""
        key = (leg, direction, dialect, action, kind)
        cell = self.message_cells.get(key)
        if cell is None:
            cell = self.messages.labels(leg, direction, dialect, action_label(dialect, action), kind)
            if len(self.message_cells) < _CHILD_CACHE_LIMIT:  # invented actions must not grow it forever
                self.message_cells[key] = cell
        return cell

    def duration(self, origin: str, outcome: str) -> HistogramCell:
        """The call duration histogram cell for these labels (cached)."""
        key = (origin, outcome)
        cell = self.duration_cells.get(key)
        if cell is None:
            cell = self.duration_cells[key] = self.call_duration.labels(origin, outcome)
        return cell

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
