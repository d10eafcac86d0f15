"""A SOAP charger's day for interop tests: what charger.js does, as an OCPP 1.5 or 1.6 SOAP charger.

`SoapChargerSession` plays an independent charger: zeep and the official WSDLs for its calls
(`tests.soap.charger.SoapCharger`, which checks every answer against the XSD) and spyne for its
own ChargePointService (`SpyneChargePointService`, which checks every request). Its day: boot,
status of connectors 0-2, heartbeat, authorize, a local transaction with meter values, a
DataTransfer. Meanwhile it answers what csms.js's script sends through the gateway the way a
charger does: a remote start starts a transaction on that connector, a remote stop stops it,
ChangeAvailability reports the connector's new status, a trigger sends the message asked for.
The day is over once the CSMS's DataTransfer messageId "done" has been answered and everything
it set off is finished.

Like charger.js it does not raise on a failed call: problems go to `errors`, wire-level ones to
`violations` (the charger's and the endpoint's).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.interop.spyne_endpoint import Answer, Fields, SpyneChargePointService
from tests.soap.charger import SoapCallError, SoapCharger, SoapFaultError

VENDOR = "interop"
WAIT = 10.0  # seconds for one call or one awaited event, as charger.js's --wait-ms

Check = Callable[[Fields], str | None]


@dataclass
class Transaction:
    connector_id: int
    id_tag: str


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def id_tag_accepted(answer: Fields) -> str | None:
    status = answer.get("idTagInfo", {}).get("status")
    return None if status == "Accepted" else f"idTagInfo {answer.get('idTagInfo')}"


class SoapChargerSession:
    """One charger of OCPP SOAP `version` calling the gateway's `/soap` at `url` as `identity`.

    Use as `async with SoapChargerSession(...) as session: await session.run()`; the endpoint
    listens while the session is open.

    Attributes:
        errors: Failed or unexpected calls, failed checks, missing events.
        received: The operations that reached the charger's endpoint, in order.
        calls_out: Calls the charger made.
    """

    def __init__(self, version: str, url: str, identity: str) -> None:
        self.version = version
        self.identity = identity
        self.endpoint = SpyneChargePointService(version, identity, self._dispatch)
        self.charger: SoapCharger | None = None
        self._url = url
        self.errors: list[str] = []
        self.calls_out = 0
        # 1.5 spells it HeartBeatInterval (TRANSLATION.md 5.6): a 1.5 charger knows no other name.
        self._heartbeat_key = "HeartBeatInterval" if version == "1.5" else "HeartbeatInterval"
        self.config = {self._heartbeat_key: "300", "MeterValueSampleInterval": "60"}
        self.transactions: dict[int, Transaction] = {}
        self._transactions_changed = asyncio.Condition()
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Callable[[Fields], Coroutine[Any, Any, Answer]]] = {
            "ChangeConfiguration": self._change_configuration,
            "GetConfiguration": self._get_configuration,
            "RemoteStartTransaction": self._remote_start,
            "RemoteStopTransaction": self._remote_stop,
            "ChangeAvailability": self._change_availability,
            "UnlockConnector": self._unlock,
            "Reset": self._reset,
            "DataTransfer": self._data_transfer,
        }
        if version == "1.6":
            self._handlers["TriggerMessage"] = self._trigger

    @property
    def received(self) -> list[str]:
        return self.endpoint.received

    @property
    def violations(self) -> list[str]:
        charger = self.charger.violations if self.charger is not None else []
        return charger + self.endpoint.violations

    async def __aenter__(self) -> SoapChargerSession:
        await self.endpoint.start()
        self.charger = SoapCharger(self.version, self._url, self.identity, from_url=self.endpoint.url, timeout=WAIT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await self.endpoint.stop()
        if self.charger is not None:
            await self.charger.close()

    async def run(self, timeout: float = 30.0) -> None:
        """The charger's day, until the CSMS's "done" is answered and all it set off has finished."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(self._day(), self._done.wait())
                while self._tasks:
                    await asyncio.gather(*self._tasks)
        except TimeoutError:
            self.errors.append(f"the day did not end within {timeout} s (no DataTransfer 'done' from the CSMS?)")

    # ---- charger-initiated -----------------------------------------------------------------------

    async def call(self, operation: str, check: Check | None = None, /, **fields: Any) -> Fields | None:
        """Call the gateway; None (and the problem in `errors`) if it failed or `check` objects."""
        assert self.charger is not None, "use the session as an async context manager"
        self.calls_out += 1
        try:
            answer = await self.charger.call(operation, **fields)
        except (SoapFaultError, SoapCallError, aiohttp.ClientError, TimeoutError) as exc:
            self.errors.append(f"out {operation}: {exc!r}")
            return None
        problem = check(answer) if check else None
        if problem:
            self.errors.append(f"out {operation}: {problem}")
            return None
        return answer

    def _occupied(self, status16: str) -> str:
        # 1.5 has one Occupied where 1.6 tells Preparing, Charging, Finishing apart (TRANSLATION.md 5.2).
        return "Occupied" if self.version == "1.5" else status16

    async def status(self, connector_id: int, status: str) -> None:
        await self.call("StatusNotification", connectorId=connector_id, errorCode="NoError", status=status,
                        timestamp=now())

    def _meter_value(self, wh: int) -> Fields:
        sample = {"context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        if self.version == "1.5":
            # 1.5's value is XML text with attributes; zeep names the text _value_1.
            return {"timestamp": now(), "value": [{"_value_1": str(wh), **sample}]}
        return {"timestamp": now(), "sampledValue": [{"value": str(wh), **sample}]}

    async def start_transaction(self, connector_id: int, id_tag: str, meter_start: int) -> int | None:
        def check(answer: Fields) -> str | None:
            if not isinstance(answer.get("transactionId"), int):
                return f"no integer transactionId in {answer}"
            return id_tag_accepted(answer)

        answer = await self.call("StartTransaction", check, connectorId=connector_id, idTag=id_tag,
                                 meterStart=meter_start, timestamp=now())
        if answer is None:
            return None
        async with self._transactions_changed:
            self.transactions[answer["transactionId"]] = Transaction(connector_id, id_tag)
            self._transactions_changed.notify_all()
        return int(answer["transactionId"])

    async def stop_transaction(self, transaction_id: int, meter_stop: int, reason: str) -> None:
        tx = self.transactions.pop(transaction_id)
        fields: Fields = {"transactionId": transaction_id, "idTag": tx.id_tag, "meterStop": meter_stop,
                          "timestamp": now()}
        if self.version == "1.5":
            fields["transactionData"] = [{"values": [self._meter_value(meter_stop)]}]  # 1.5 has no reason
        else:
            fields |= {"reason": reason, "transactionData": [self._meter_value(meter_stop)]}
        await self.call("StopTransaction", **fields)
        await self.status(tx.connector_id, "Available")

    async def _day(self) -> None:
        interval = "heartbeatInterval" if self.version == "1.5" else "interval"

        def boot_accepted(answer: Fields) -> str | None:
            ok = answer.get("status") == "Accepted" and isinstance(answer.get(interval), int)
            return None if ok else f"answer {answer}"

        boot = await self.call("BootNotification", boot_accepted, chargePointVendor="InteropVendor",
                               chargePointModel="InteropModel", chargePointSerialNumber=self.identity,
                               firmwareVersion="1.0.0")
        if boot is None:
            return  # the CSMS runs its script only for an accepted charger: the test fails on errors
        for connector in (0, 1, 2):
            await self.status(connector, "Available")
        await self.call("Heartbeat", lambda a: None if a.get("currentTime") else "no currentTime")
        await self.call("Authorize", id_tag_accepted, idTag="LOCAL1")
        await self.status(1, self._occupied("Preparing"))
        tx = await self.start_transaction(1, "LOCAL1", 1000)
        if tx is not None:
            await self.status(1, self._occupied("Charging"))
            values = "values" if self.version == "1.5" else "meterValue"
            await self.call("MeterValues", connectorId=1, transactionId=tx, **{values: [self._meter_value(1300)]})
            await self.stop_transaction(tx, 1600, "Local")

        def echoed(answer: Fields) -> str | None:
            ok = answer.get("status") == "Accepted" and answer.get("data") == "from charger"
            return None if ok else f"answer {answer}"

        await self.call("DataTransfer", echoed, vendorId=VENDOR, messageId="hello", data="from charger")

    # ---- CSMS-initiated, through the gateway -----------------------------------------------------

    def spawn(self, what: str, work: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
        """A follow-up for `Answer.then`: starts `work` as a task that `run` waits for."""

        async def guarded() -> None:
            try:
                await work()
            except Exception as exc:  # recorded like charger.js's spawn: the test fails on errors
                self.errors.append(f"{what}: {exc!r}")

        def start() -> None:
            task = asyncio.get_running_loop().create_task(guarded())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return start

    async def _dispatch(self, operation: str, fields: Fields) -> Answer:
        handler = self._handlers.get(operation)
        if handler is None:
            self.errors.append(f"unexpected call {operation} {fields}")
            raise NotImplementedError(f"{operation} is not handled by this interop charger")
        return await handler(fields)

    async def _change_configuration(self, fields: Fields) -> Answer:
        if fields["key"] not in self.config:
            return Answer({"status": "NotSupported"})
        self.config[fields["key"]] = fields["value"]
        return Answer({"status": "Accepted"})

    async def _get_configuration(self, fields: Fields) -> Answer:
        keys = fields.get("key") or list(self.config)
        known = [{"key": k, "readonly": False, "value": self.config[k]} for k in keys if k in self.config]
        unknown = [k for k in keys if k not in self.config]
        return Answer({"configurationKey": known, "unknownKey": unknown})

    async def _trigger(self, fields: Fields) -> Answer:
        requested = fields["requestedMessage"]
        if requested == "Heartbeat":
            return Answer({"status": "Accepted"}, self.spawn("triggered Heartbeat", lambda: self._heartbeat()))
        if requested == "StatusNotification":
            connector = fields.get("connectorId", 0)
            return Answer({"status": "Accepted"},
                          self.spawn("triggered StatusNotification", lambda: self.status(connector, "Available")))
        return Answer({"status": "NotImplemented"})

    async def _heartbeat(self) -> None:
        await self.call("Heartbeat")

    async def _remote_start(self, fields: Fields) -> Answer:
        connector = fields.get("connectorId", 2)
        if any(tx.connector_id == connector for tx in self.transactions.values()):
            return Answer({"status": "Rejected"})

        async def start() -> None:
            await self.status(connector, self._occupied("Preparing"))
            if await self.start_transaction(connector, fields["idTag"], 5000) is not None:
                await self.status(connector, self._occupied("Charging"))

        return Answer({"status": "Accepted"}, self.spawn("remote start", start))

    async def _remote_stop(self, fields: Fields) -> Answer:
        transaction_id = fields["transactionId"]
        try:
            # the StartTransaction answer carrying this id may still be on its way to us
            async with asyncio.timeout(WAIT), self._transactions_changed:
                await self._transactions_changed.wait_for(lambda: transaction_id in self.transactions)
        except TimeoutError:
            return Answer({"status": "Rejected"})
        return Answer({"status": "Accepted"},
                      self.spawn("remote stop", lambda: self.stop_transaction(transaction_id, 5400, "Remote")))

    async def _change_availability(self, fields: Fields) -> Answer:
        status = "Unavailable" if fields["type"] == "Inoperative" else "Available"
        connector = fields["connectorId"]
        return Answer({"status": "Accepted"}, self.spawn("availability", lambda: self.status(connector, status)))

    async def _unlock(self, fields: Fields) -> Answer:
        # 1.5 answers Accepted/Rejected, 1.6 Unlocked/UnlockFailed/NotSupported.
        return Answer({"status": "Accepted" if self.version == "1.5" else "Unlocked"})

    async def _reset(self, fields: Fields) -> Answer:
        return Answer({"status": "Accepted"})

    async def _data_transfer(self, fields: Fields) -> Answer:
        answer = {"status": "Accepted", **({"data": fields["data"]} if "data" in fields else {})}
        return Answer(answer, self._done.set if fields.get("messageId") == "done" else None)
