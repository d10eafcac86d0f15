"""A 2.0.1 station behind a 1.6 CSMS as a session trace: the station calls, a scripted CSMS answers."""

from __future__ import annotations

from functools import cache
from typing import Any

from gateway.core.dialects import Dialect
from gateway.core.mapping import RuleSet
from gateway.core.session import Command, Save
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.settings import TranslationSettings
from gateway.core.translate.state import ChargerState
from gateway.core.translate.translator import Translation
from gateway.mapping_files import load_mappings
from tests.core.playbook import Playbook, readable

NOW = 1_795_000_000.0
T0 = "2026-11-22T10:00:00Z"
#: What the scripted 1.6 CSMS answers, by action, unless a test says otherwise.
CSMS_ANSWERS: dict[str, Any] = {
    "StartTransaction": {"transactionId": 4711, "idTagInfo": {"status": "Accepted"}},
    "StopTransaction": {"idTagInfo": {"status": "Accepted"}},
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
}
Calls = list[tuple[str, dict[str, Any]]]


class SavingPlaybook(Playbook):
    """A Playbook that also spells Save commands, as ("save", key, value)."""

    def _drain(self) -> list[tuple[Any, ...]]:
        self.raw = self.session.commands()
        return [_spelled(command) for command in self.raw]


def _spelled(command: Command) -> tuple[Any, ...]:
    return ("save", command.key, command.value) if isinstance(command, Save) else readable(command)


@cache
def rules() -> RuleSet:
    return load_mappings()


class Station:
    """One ChargerSession (2.0.1 station, 1.6 CSMS) with the built-in rules and a wall clock at NOW."""

    def __init__(self, docs: dict[str, Any] | None = None, settings: TranslationSettings | None = None) -> None:
        self.ctx = HandlerContext("CS1", Dialect.OCPP201, Dialect.OCPP16, ChargerState(docs),
                                  settings or TranslationSettings(), lambda: NOW)
        self.state = self.ctx.state
        self.pb = SavingPlaybook(Dialect.OCPP201, Dialect.OCPP16, Translation(self.ctx, rules()))
        self._n = 0

    def call(self, action: str, payload: dict[str, Any], **answers: Any) -> tuple[Calls, Any]:
        """The station sends a CALL; every CSMS call it causes is answered (CSMS_ANSWERS, or `answers`
        by action; a str answer is a CALLERROR code). Returns (the CSMS calls, the station's answer)."""
        self._n += 1
        unique_id = f"s{self._n}"
        out = self.pb.charger([2, unique_id, action, payload])
        calls: Calls = []
        answer: Any = None
        while True:
            pending = None
            for command in out:
                if command[0] != "send":
                    continue
                leg, frame = command[1], command[2]
                if leg == "charger" and frame[1] == unique_id:
                    answer = frame[2] if frame[0] == 3 else ("error", frame[2])
                elif leg == "csms" and frame[0] == 2:
                    calls.append((frame[2], frame[3]))
                    pending = frame
            if pending is None:
                return calls, answer
            reply = answers.get(pending[2], CSMS_ANSWERS.get(pending[2], {}))
            frame_out = [4, pending[1], reply, "refused", {}] if isinstance(reply, str) else [3, pending[1], reply]
            out = self.pb.csms(frame_out)

    def tx(self, id201: str = "TX1") -> dict[str, Any]:
        """The transaction record of a station transaction."""
        record: dict[str, Any] = self.state.read("tx")["records201"][id201]
        return record


def event(event_type: str, seq_no: int, trigger: str, *, tx: str = "TX1", charging: str | None = None,
          token: str | None = None, evse: bool = True, meter: list[dict[str, Any]] | None = None,
          stopped: str | None = None, ts: str = T0, **fields: Any) -> dict[str, Any]:
    """A TransactionEvent request."""
    info: dict[str, Any] = {"transactionId": tx}
    if charging is not None:
        info["chargingState"] = charging
    if stopped is not None:
        info["stoppedReason"] = stopped
    payload: dict[str, Any] = {"eventType": event_type, "timestamp": ts, "triggerReason": trigger, "seqNo": seq_no,
                               "transactionInfo": info, **fields}
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    if evse:
        payload["evse"] = {"id": 1, "connectorId": 1}
    if meter is not None:
        payload["meterValue"] = [{"timestamp": ts, "sampledValue": meter}]
    return payload


def wh(value: float, context: str | None = None, **fields: Any) -> dict[str, Any]:
    """An energy register sample in Wh (or as `unitOfMeasure` says)."""
    sample: dict[str, Any] = {"value": value, "measurand": "Energy.Active.Import.Register",
                              "unitOfMeasure": {"unit": "Wh"}, **fields}
    if context is not None:
        sample["context"] = context
    return sample


def status(connector_status: str, evse: int = 1, ts: str = T0) -> dict[str, Any]:
    """A 2.0.1 StatusNotification request."""
    return {"timestamp": ts, "connectorStatus": connector_status, "evseId": evse, "connectorId": 1}


def status16(status: str, connector: int = 1, error: str = "NoError", ts: str = T0, **fields: Any) -> tuple[str, Any]:
    """The 1.6 StatusNotification the CSMS should receive."""
    return ("StatusNotification", {"connectorId": connector, "status": status, "timestamp": ts, "errorCode": error,
                                   **fields})


def active(station: Station, *, charging: str | None = None) -> None:
    """Bring TX1 on EVSE 1 to active16 (1.6 id 4711) with meterStart 1520."""
    station.call("StatusNotification", status("Occupied"))
    station.call("TransactionEvent", event("Started", 0, "Authorized", token="04A1B2C3", charging=charging or
                                           "EVConnected", meter=[wh(1520, "Transaction.Begin")]))
    assert station.tx()["state"] == "active16"
