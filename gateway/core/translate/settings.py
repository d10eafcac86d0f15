"""Translation settings (TRANSLATION.md 6.4) and the per-charger connector topology (1.7)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Topology:
    """1.6 connector k <-> (2.0.1 EVSE, connector); default one connector per EVSE (k <-> (k, 1))."""

    pairs: tuple[tuple[int, int], ...] = ()

    def evse_of(self, connector16: int) -> tuple[int, int]:
        """(evseId, connectorId) of a 1.6 connector > 0."""
        if 0 < connector16 <= len(self.pairs):
            return self.pairs[connector16 - 1]
        return (connector16, 1)

    def connector_of(self, evse_id: int, connector_id: int | None = None) -> int:
        """The 1.6 connector of an EVSE (its first, unless a connector is named); 0 stays 0."""
        if evse_id == 0:
            return 0
        for index, (evse, conn) in enumerate(self.pairs, start=1):
            if evse == evse_id and (connector_id is None or conn == connector_id):
                return index
        return evse_id


@dataclass(frozen=True, slots=True)
class TranslationSettings:
    """Decisions an operator may change; defaults as TRANSLATION.md 6.4 recommends."""

    default_token_type: str = "ISO14443"
    no_authorization_idtag: str = "NoAuthorization"
    boot_default_reason: str = "PowerUp"
    attach_untagged_meter_values: bool = True
    start16_requires_ev_connected: bool = True
    end_on_deauthorization: bool = True
    remote_start_expiry_s: float = 120.0
    topology: Topology = field(default_factory=Topology)
