"""Every Prometheus metric of the gateway, defined once; labels come from small fixed sets.

No metric carries a charge box id: a fleet of thousands would explode the series count.
"""

from __future__ import annotations

from typing import Final, final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.core import schemas
from gateway.core.dialects import Dialect

#: Round trips through the gateway: sub-millisecond relays up to slow chargers.
_RTT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


_CHILD_CACHE_LIMIT: Final = 4096


def action_label(dialect: Dialect, action: str) -> str:
    """The action as a label value: a hostile peer's invented actions all count as "unknown"."""
    return action if action in schemas.actions(dialect) else "unknown"


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
        self.messages = Counter(
            "gateway_messages",
            "OCPP messages by leg (charger|csms), direction (in|out), dialect, action and kind (call|result|error)",
            ["leg", "direction", "dialect", "action", "kind"],
            registry=r,
        )
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
            "Failed upstream dials, by reason (refused|unreachable|timeout)",
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
        self.call_duration = Histogram(
            "gateway_call_duration_seconds",
            "Time from a call entering the gateway to its answer leaving it, by origin leg and outcome",
            ["origin", "outcome"],
            buckets=_RTT_BUCKETS,
            registry=r,
        )
        self.internal_errors = Counter(
            "gateway_internal_errors", "Unexpected exceptions caught while serving a charger", registry=r
        )

        self._message_children: dict[tuple[str, str, str, str, str], Counter] = {}
        self._duration_children: dict[tuple[str, str], Histogram] = {}

    def message(self, leg: str, direction: str, dialect: Dialect, action: str, kind: str) -> Counter:
        """The messages counter child for these labels; cached because it is hit for every frame."""
        key = (leg, direction, dialect, action, kind)
        child = self._message_children.get(key)
        if child is None:
            child = self.messages.labels(leg, direction, dialect, action_label(dialect, action), kind)
            if len(self._message_children) < _CHILD_CACHE_LIMIT:  # invented actions must not grow it forever
                self._message_children[key] = child
        return child

    def duration(self, origin: str, outcome: str) -> Histogram:
        """The call duration histogram child for these labels (cached)."""
        key = (origin, outcome)
        child = self._duration_children.get(key)
        if child is None:
            child = self._duration_children[key] = self.call_duration.labels(origin, outcome)
        return child

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
