"""OCPP 1.5 / 1.6 SOAP 1.2 request envelopes the SOAP load generator sends.

Built here from plain string templates, never with the gateway's codec (gateway.soap): the load
generator is an independent peer, and the self-check below holds it to the official WSDLs
instead. Payloads carry the same content as bench_frames' OCPP-J 1.6 requests (four sampled values
per MeterValues, the same vendor/model, connector 1) in each version's own XML shape: 1.6
`meterValue/sampledValue` child elements, 1.5 `values/value` text with unqualified attributes
(units `Amp`/`Volt`, no `phase`). Payload XML is rendered once per wall-clock second and per
action; per request only the MessageID changes.

    .venv/bin/python bench/soap_frames.py    # checks every envelope against the WSDL XSD and WS-A rules
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench_frames import CLOCK

SOAP15 = "1.5"
SOAP16 = "1.6"
VERSIONS = (SOAP15, SOAP16)
#: The charger -> CS (CentralSystemService) namespace of each version; the trailing slash belongs to it.
CS_NAMESPACE = {SOAP15: "urn://Ocpp/Cs/2012/06/", SOAP16: "urn://Ocpp/Cs/2015/10/"}
#: The gateway's dialect name for each version (for reports).
GATEWAY_DIALECT = {SOAP15: "ocpp1.5-soap", SOAP16: "ocpp1.6-soap"}

ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
WSA_NS = "http://www.w3.org/2005/08/addressing"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"

#: loadgen --transactions: StatusNotification cycles. 1.5 has no Charging: a connector with a
#: transaction is Occupied (the gateway's 1.5 lift refines it to Charging).
TX_STATUS_CYCLE = {SOAP15: ("Occupied", "Occupied", "Available", "Available"),
                   SOAP16: ("Charging", "Charging", "Available", "Available")}

# A payload value: text, a nested sequence (dict, in XSD order), a repeated element (list), or a
# 1.5 meter `value`: (text, {attribute: value}).
Node = Any


def _xml(name: str, value: Node) -> str:
    if isinstance(value, list):
        return "".join(_xml(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_xml(k, v) for k, v in value.items())
        return f"<cs:{name}>{inner}</cs:{name}>" if inner else f"<cs:{name}/>"
    if isinstance(value, tuple):
        text, attrs = value
        rendered = "".join(f' {k}="{v}"' for k, v in attrs.items())
        return f"<cs:{name}{rendered}>{text}</cs:{name}>"
    return f"<cs:{name}>{value}</cs:{name}>"


def _meter_values(version: str, ts: str, energy_wh: float, transaction_id: int) -> dict[str, Node]:
    if version == SOAP16:
        sampled = [
            {"value": f"{energy_wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7360.0", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "32.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "230.0", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
        ]
        return {"connectorId": 1, "transactionId": transaction_id,
                "meterValue": [{"timestamp": ts, "sampledValue": sampled}]}
    values = [
        (f"{energy_wh:.1f}", {"measurand": "Energy.Active.Import.Register", "unit": "Wh"}),
        ("7360.0", {"measurand": "Power.Active.Import", "unit": "W"}),
        ("32.0", {"measurand": "Current.Import", "unit": "Amp"}),
        ("230.0", {"measurand": "Voltage", "unit": "Volt"}),
    ]
    return {"connectorId": 1, "transactionId": transaction_id, "values": [{"timestamp": ts, "value": values}]}


def request_payload(version: str, action: str, ts: str, *, transaction_id: int = 1, status: str = "Available",
                    id_tag: str = "BENCHTAG", energy_wh: float = 12345.6) -> dict[str, Node]:
    """The body of one request, as (element name -> value) in XSD order."""
    if action == "BootNotification":
        return {"chargePointVendor": "Bench", "chargePointModel": "LoadGen-1", "firmwareVersion": "1.0.0"}
    if action == "Heartbeat":
        return {}
    if action == "StatusNotification":
        return {"connectorId": 1, "status": status, "errorCode": "NoError", "timestamp": ts}
    if action == "MeterValues":
        return _meter_values(version, ts, energy_wh, transaction_id)
    if action == "StartTransaction":
        return {"connectorId": 1, "idTag": id_tag, "timestamp": ts, "meterStart": int(energy_wh)}
    raise ValueError(f"no SOAP request for {action!r}")


def root_name(action: str, suffix: str) -> str:
    """`BootNotification`, "Request" -> `bootNotificationRequest` (SOAP-NOTES section 5)."""
    return action[:1].lower() + action[1:] + suffix


def content_type(action: str) -> str:
    return f'application/soap+xml; charset=utf-8; action="/{action}"'


class Envelopes:
    """SOAP request envelopes of one charger: its id, callback URL and the gateway's URL fixed.

    `status_cycle`: successive StatusNotifications take its statuses in turn (None: always Available).
    """

    def __init__(self, version: str, charge_box_id: str, from_url: str, to_url: str, *,
                 id_tag: str = "BENCHTAG", status_cycle: tuple[str, ...] | None = None) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown SOAP version {version!r}")
        self.version = version
        self.transaction_id = 1
        self.id_tag = id_tag
        self._status_cycle = status_cycle
        self._status_next = 0
        ns = CS_NAMESPACE[version]
        # Everything but the action, the MessageID and the body is the same in every request.
        self._head = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{ENV_NS}" xmlns:wsa="{WSA_NS}" xmlns:cs="{ns}"><s:Header>'
            f'<cs:chargeBoxIdentity s:mustUnderstand="true">{charge_box_id}</cs:chargeBoxIdentity>'
            '<wsa:Action s:mustUnderstand="true">/'
        )
        self._after_id = (
            f"</wsa:MessageID><wsa:From><wsa:Address>{from_url}</wsa:Address></wsa:From>"
            f"<wsa:ReplyTo><wsa:Address>{ANONYMOUS}</wsa:Address></wsa:ReplyTo>"
            f'<wsa:To s:mustUnderstand="true">{to_url}</wsa:To></s:Header><s:Body>'
        )
        self._sec = ""
        self._bodies: dict[str, str] = {}

    def set_transaction(self, transaction_id: int) -> None:
        self.transaction_id = transaction_id
        self._bodies.clear()

    def envelope(self, action: str, message_id: str) -> bytes:
        ts = CLOCK.now()
        if ts != self._sec:  # a new second: bodies with timestamps are stale
            self._sec = ts
            self._bodies.clear()
        status = "Available"
        key = action
        if action == "StatusNotification" and self._status_cycle:
            status = self._status_cycle[self._status_next % len(self._status_cycle)]
            self._status_next += 1
            key = f"{action}/{status}"
        body = self._bodies.get(key)
        if body is None:
            payload = request_payload(self.version, action, ts, transaction_id=self.transaction_id, status=status,
                                      id_tag=self.id_tag)
            body = _xml(root_name(action, "Request"), payload)
            self._bodies[key] = body
        # Ids and values are ours (URL-safe characters, numbers, enum names): nothing to escape.
        return (f"{self._head}{action}</wsa:Action><wsa:MessageID>{message_id}{self._after_id}"
                f"{body}</s:Body></s:Envelope>").encode()


# --- self-check ------------------------------------------------------------------------


def self_check() -> list[str]:
    """Validate every envelope the SOAP load generator sends: payload and chargeBoxIdentity against the
    XSD embedded in the official WSDLs, envelope and WS-Addressing headers against OCPP-S (the test
    kit's tests/soap/xsd.py, which reads /work/shared/spec/soap as it is)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.soap import xsd

    problems: list[str] = []
    actions = ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification", "StartTransaction")
    for version in VERSIONS:
        envelopes = Envelopes(version, "R1CP00042", "http://127.0.0.1:9/cp/R1CP00042", "http://127.0.0.1:9000/soap",
                              id_tag="R1CP00042", status_cycle=TX_STATUS_CYCLE[version])
        envelopes.set_transaction(1_700_000_123)
        for action in actions:
            for n in range(len(TX_STATUS_CYCLE[version]) if action == "StatusNotification" else 1):
                data = envelopes.envelope(action, f"urn:uuid:00000000-0000-4000-8000-{n:012x}")
                where = f"{version} {action}#{n}"
                problems += [f"{where}: {p}" for p in xsd.payload_errors(data, namespace=CS_NAMESPACE[version])]
                problems += [f"{where}: {p}" for p in xsd.envelope_errors(data, expect_action=f"/{action}",
                                                                          request=True)]
    return problems


if __name__ == "__main__":
    found = self_check()
    for line in found:
        print(line, file=sys.stderr)
    print("soap_frames: all envelopes valid" if not found else f"soap_frames: {len(found)} problem(s)")
    sys.exit(1 if found else 0)
