"""ChargerSession as protocol traces: frames and events go in, commands come out; no event loop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Request
from gateway.core.ocppj import Call, CallError
from gateway.core.session import Leg, Send
from gateway.errors import NotSupportedAction
from tests.core.playbook import (
    ANY,
    BOOT_16,
    BOOT_201,
    BOOT_ANSWER,
    CHARGER,
    CSMS,
    HEARTBEAT_ANSWER,
    RESET_16,
    RESET_201,
    RESET_ANSWER,
    Playbook,
)

HEARTBEAT = [2, "1", "Heartbeat", {}]


class TableTranslator:
    """Translator double at the core's seam: one fixed target payload per action, results as given."""

    def __init__(self, calls: dict[str, dict[str, Any]], results: dict[str, dict[str, Any]] | None = None) -> None:
        self.calls = calls
        self.results = results or {}

    def flow(self, call: Call, origin: Leg, now: float) -> Flow:
        reply = yield Request(origin.other, call.action, self.calls[call.action])
        assert reply is not None
        if reply.error is not None:
            raise NotSupportedAction(reply.error.error_description)
        return self.results.get(call.action, reply.payload)

    def writes(self) -> list[tuple[str, Any]]:
        return []


def busy_charger_slot(pb: Playbook) -> None:
    """Put a CSMS Reset outstanding at the charger."""
    pb.csms([2, "r1", "Reset", RESET_16])


# ---- transition table: IDLE + call routed here, leg up -> WAITING, Send(call) ----------------


def test_charger_call_is_sent_to_idle_csms() -> None:
    """A valid charger CALL goes straight to an idle, connected CSMS leg."""
    pb = Playbook()
    assert pb.charger(HEARTBEAT) == [
        ("received", "charger", "call", "Heartbeat"),
        ("send", "csms", HEARTBEAT),
    ]


def test_csms_call_is_sent_to_idle_charger() -> None:
    """A valid CSMS CALL goes straight to the idle charger leg."""
    pb = Playbook()
    assert pb.csms([2, "r1", "Reset", RESET_16]) == [
        ("received", "csms", "call", "Reset"),
        ("send", "charger", [2, "r1", "Reset", RESET_16]),
    ]


# ---- any + call routed here, slot busy or down -> queue it; CALLERROR if the queue is full ----


def test_call_to_busy_leg_is_queued() -> None:
    """A second charger CALL while the CSMS has one outstanding is held back, not sent."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    assert pb.charger([2, "2", "Heartbeat", {}]) == [("received", "charger", "call", "Heartbeat")]


def test_call_to_down_leg_is_queued() -> None:
    """A charger CALL while the CSMS leg is down is held back, not sent."""
    pb = Playbook(csms_up=False)
    assert pb.charger(HEARTBEAT) == [("received", "charger", "call", "Heartbeat")]


def test_queue_overflow_answers_source_with_generic_error() -> None:
    """A CALL beyond the queue limit is answered GenericError on its own leg and never sent."""
    pb = Playbook(max_queued=1)
    pb.charger(HEARTBEAT)
    pb.charger([2, "2", "Heartbeat", {}])
    assert pb.charger([2, "3", "Heartbeat", {}]) == [
        ("received", "charger", "call", "Heartbeat"),
        ("refused", "charger", "Heartbeat", "Overloaded"),
        ("send", "charger", [4, "3", "GenericError", ANY, {}]),
    ]


def test_queue_overflow_from_csms_answers_csms() -> None:
    """A CSMS CALL beyond the charger leg's queue limit is answered GenericError to the CSMS."""
    pb = Playbook(max_queued=0)
    busy_charger_slot(pb)
    assert pb.csms([2, "r2", "Reset", RESET_16]) == [
        ("received", "csms", "call", "Reset"),
        ("refused", "csms", "Reset", "Overloaded"),
        ("send", "csms", [4, "r2", "GenericError", ANY, {}]),
    ]


# ---- WAITING + reply with the slot's id -> IDLE, answer source, Completed; pump ---------------


def test_result_is_answered_to_source_and_completes() -> None:
    """The CSMS's CALLRESULT reaches the charger and the call completes with its duration."""
    pb = Playbook()
    pb.charger(HEARTBEAT, now=1.0)
    assert pb.csms([3, "1", HEARTBEAT_ANSWER], now=1.5) == [
        ("received", "csms", "result", "Heartbeat"),
        ("send", "charger", [3, "1", HEARTBEAT_ANSWER]),
        ("completed", "Heartbeat", "charger", "result", 0.5),
    ]


def test_reply_sends_next_queued_call() -> None:
    """Once the outstanding call is answered, the queue head is sent."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    pb.charger([2, "2", "BootNotification", BOOT_16])
    assert pb.csms([3, "1", HEARTBEAT_ANSWER], now=1.0)[-1] == ("send", "csms", [2, "2", "BootNotification", BOOT_16])


def test_csms_call_waits_for_charger_reply() -> None:
    """A CSMS CALL while the charger has one outstanding is sent only after the charger answers."""
    pb = Playbook()
    busy_charger_slot(pb)
    assert pb.csms([2, "r2", "Reset", {"type": "Hard"}]) == [("received", "csms", "call", "Reset")]
    assert pb.charger([3, "r1", RESET_ANSWER], now=1.0) == [
        ("received", "charger", "result", "Reset"),
        ("send", "csms", [3, "r1", RESET_ANSWER]),
        ("completed", "Reset", "csms", "result", 1.0),
        ("send", "charger", [2, "r2", "Reset", {"type": "Hard"}]),
    ]


def test_directions_do_not_block_each_other() -> None:
    """A CSMS CALL reaches the charger while the charger's own CALL awaits the CSMS (one per direction)."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    assert pb.csms([2, "r1", "Reset", RESET_16])[-1] == ("send", "charger", [2, "r1", "Reset", RESET_16])


def test_passthrough_call_reuses_exact_text() -> None:
    """With equal dialects the charger's CALL goes upstream byte for byte, id included."""
    pb = Playbook()
    text = '[2, "abc-1",  "BootNotification", {"chargePointModel": "M", "chargePointVendor": "V"}]'
    pb.charger(text)
    (send,) = [c for c in pb.raw if isinstance(c, Send)]
    assert (send.leg, send.text, send.message.unique_id) == (CSMS, text, "abc-1")


def test_passthrough_result_reuses_exact_text() -> None:
    """With equal dialects the CSMS's CALLRESULT reaches the charger byte for byte."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    text = '[3, "1", {"currentTime": "2024-05-01T10:00:00Z"}]'
    pb.csms(text)
    (send,) = [c for c in pb.raw if isinstance(c, Send)]
    assert (send.leg, send.text) == (CHARGER, text)


# ---- WAITING + deadline passed (tick) -> IDLE, CALLERROR to source, Completed; pump ------------


def test_timeout_answers_source_with_error() -> None:
    """When the CSMS does not answer by the deadline the charger gets a CALLERROR."""
    pb = Playbook(csms_timeout=30.0)
    pb.charger(HEARTBEAT)
    assert pb.tick(30.0) == [
        ("send", "charger", [4, "1", "InternalError", ANY, {}]),
        ("completed", "Heartbeat", "charger", "timeout", 30.0),
    ]


def test_tick_before_deadline_does_nothing() -> None:
    """A tick before the deadline leaves the outstanding call alone."""
    pb = Playbook(csms_timeout=30.0)
    pb.charger(HEARTBEAT)
    assert pb.tick(29.9) == []


def test_timeout_sends_next_queued_call() -> None:
    """After a timeout the queue head is sent."""
    pb = Playbook(csms_timeout=30.0)
    pb.charger(HEARTBEAT)
    pb.charger([2, "2", "Heartbeat", {}], now=1.0)
    assert pb.tick(30.0)[-1] == ("send", "csms", [2, "2", "Heartbeat", {}])


def test_charger_timeout_answers_csms_with_error() -> None:
    """When the charger does not answer a CSMS call in time the CSMS gets a CALLERROR."""
    pb = Playbook(charger_timeout=10.0)
    busy_charger_slot(pb)
    assert pb.tick(10.0) == [
        ("send", "csms", [4, "r1", "InternalError", ANY, {}]),
        ("completed", "Reset", "csms", "timeout", 10.0),
    ]


def test_reply_after_timeout_is_dropped_as_late() -> None:
    """A reply arriving after its call timed out is reported late and delivered to nobody."""
    pb = Playbook(csms_timeout=30.0)
    pb.charger(HEARTBEAT)
    pb.tick(30.0)
    assert pb.csms([3, "1", HEARTBEAT_ANSWER], now=31.0) == [("dropped", "csms", "1", True)]


def test_reply_with_unknown_id_is_dropped() -> None:
    """A reply whose id matches no call is reported as unknown, not late, and delivered to nobody."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    assert pb.csms([3, "zzz", HEARTBEAT_ANSWER]) == [("dropped", "csms", "zzz", False)]


def test_reply_with_unknown_id_keeps_call_outstanding() -> None:
    """After an unknown reply the real answer still reaches the charger."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    pb.csms([3, "zzz", HEARTBEAT_ANSWER])
    assert ("send", "charger", [3, "1", HEARTBEAT_ANSWER]) in pb.csms([3, "1", HEARTBEAT_ANSWER])


# ---- WAITING + leg_down -> DOWN, CALLERROR to source, Completed -------------------------------


def test_leg_down_fails_outstanding_call() -> None:
    """Losing the CSMS leg answers the charger's outstanding call with a CALLERROR."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    assert pb.down(CSMS, now=2.0) == [
        ("send", "charger", [4, "1", "InternalError", ANY, {}]),
        ("completed", "Heartbeat", "charger", "unavailable", 2.0),
    ]


# ---- IDLE + leg_down -> DOWN; DOWN + leg_up -> IDLE, pump --------------------------------------


def test_leg_down_on_idle_leg_emits_nothing() -> None:
    """Losing an idle leg produces no commands."""
    pb = Playbook()
    assert pb.down(CSMS) == []


def test_leg_up_sends_calls_queued_while_down() -> None:
    """Calls queued while the CSMS leg was down are sent, in order, one at a time, when it comes up."""
    pb = Playbook(csms_up=False)
    pb.charger(HEARTBEAT)
    pb.charger([2, "2", "Heartbeat", {}])
    assert pb.up(CSMS, now=1.0) == [("send", "csms", HEARTBEAT)]


def test_leg_up_with_empty_queue_emits_nothing() -> None:
    """A leg coming up with nothing queued produces no commands."""
    pb = Playbook(csms_up=False)
    assert pb.up(CSMS) == []


def test_leg_up_drops_calls_whose_deadline_passed() -> None:
    """The pump answers expired queue entries with a CALLERROR instead of sending them."""
    pb = Playbook(csms_up=False, csms_timeout=30.0)
    pb.charger(HEARTBEAT)
    pb.charger([2, "2", "Heartbeat", {}], now=5.0)
    assert pb.up(CSMS, now=31.0) == [
        ("send", "charger", [4, "1", "InternalError", ANY, {}]),
        ("completed", "Heartbeat", "charger", "timeout", 31.0),
        ("send", "csms", [2, "2", "Heartbeat", {}]),
    ]


def test_queued_call_expires_while_leg_down() -> None:
    """A call queued for a down leg is answered with a CALLERROR once its deadline passes."""
    pb = Playbook(csms_up=False, csms_timeout=30.0)
    pb.charger(HEARTBEAT)
    assert pb.tick(30.0) == [
        ("send", "charger", [4, "1", "InternalError", ANY, {}]),
        ("completed", "Heartbeat", "charger", "unavailable", 30.0),
    ]


def test_queued_call_does_not_expire_early_while_leg_down() -> None:
    """A call queued for a down leg stays queued until its deadline."""
    pb = Playbook(csms_up=False, csms_timeout=30.0)
    pb.charger(HEARTBEAT)
    assert pb.tick(29.0) == []


# ---- invalid input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "payload", "code"),
    [
        (Dialect.OCPP16, {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
        (Dialect.OCPP201, {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        (Dialect.OCPP16, {"chargePointVendor": 1, "chargePointModel": "M"}, "TypeConstraintViolation"),
        (Dialect.OCPP16, {**BOOT_16, "extra": 1}, "FormationViolation"),
        (Dialect.OCPP201, {**BOOT_201, "extra": 1}, "FormatViolation"),
    ],
)
def test_invalid_charger_call_is_refused_to_charger(dialect: Dialect, payload: dict[str, Any], code: str) -> None:
    """A schema-invalid charger CALL is answered on the charger leg in its dialect and never sent upstream."""
    pb = Playbook(dialect)
    commands = pb.charger([2, "1", "BootNotification", payload])
    assert commands[1:] == [
        ("refused", "charger", "BootNotification", ANY),
        ("send", "charger", [4, "1", code, ANY, {}]),
    ]


def test_unknown_action_is_answered_not_implemented() -> None:
    """A CALL with an action unknown to the charger's version gets NotImplemented and is not forwarded."""
    pb = Playbook(Dialect.OCPP16)
    assert pb.charger([2, "1", "TransactionEvent", {}]) == [
        ("received", "charger", "call", "TransactionEvent"),
        ("refused", "charger", "TransactionEvent", "NotImplementedAction"),
        ("send", "charger", [4, "1", "NotImplemented", ANY, {}]),
    ]


@pytest.mark.parametrize(
    ("dialect", "code"), [(Dialect.OCPP16, "FormationViolation"), (Dialect.OCPP201, "RpcFrameworkError")]
)
def test_non_json_frame_is_answered_with_unreadable_id(dialect: Dialect, code: str) -> None:
    """A frame that is not JSON is answered with a CALLERROR under id "-1" in the sender's dialect."""
    pb = Playbook(dialect)
    assert pb.charger("hello") == [
        ("refused", "charger", "", "RpcFrameworkError"),
        ("send", "charger", [4, "-1", code, ANY, {}]),
    ]


def test_malformed_call_is_answered_with_its_id() -> None:
    """A CALL frame of the wrong shape is answered with a CALLERROR carrying its own id."""
    pb = Playbook()
    assert pb.charger([2, "7", "Heartbeat", []]) == [
        ("refused", "charger", "", "FormatViolation"),
        ("send", "charger", [4, "7", "FormationViolation", ANY, {}]),
    ]


def test_oversized_call_is_answered_with_id_from_head() -> None:
    """A CALL frame over the size limit is refused unparsed, with the id read from its head."""
    pb = Playbook(max_frame=4096)
    assert pb.charger([2, "big", "DataTransfer", {"vendorId": "V", "data": "x" * 5000}]) == [
        ("refused", "charger", "", "FormatViolation"),
        ("send", "charger", [4, "big", "FormationViolation", ANY, {}]),
    ]


def test_oversized_multibyte_call_is_refused() -> None:
    """The size limit counts UTF-8 bytes, so a frame of few but wide characters is refused too."""
    pb = Playbook(max_frame=4096)
    assert pb.charger([2, "wide", "DataTransfer", {"vendorId": "V", "data": "€" * 1500}])[-1] == (
        "send",
        "charger",
        [4, "wide", "FormationViolation", ANY, {}],
    )


def test_oversized_reply_ends_outstanding_call() -> None:
    """A reply over the size limit still ends the call it answers, with an error to the source."""
    pb = Playbook(max_frame=4096)
    pb.charger(HEARTBEAT)
    assert pb.csms([3, "1", {**HEARTBEAT_ANSWER, "pad": "x" * 5000}], now=1.0) == [
        ("refused", "csms", "Heartbeat", "FormatViolation"),
        ("send", "charger", [4, "1", "FormationViolation", ANY, {}]),
        ("completed", "Heartbeat", "charger", "error", 1.0),
    ]


def test_malformed_reply_ends_outstanding_call() -> None:
    """A CALLRESULT of the wrong shape still ends the call it answers, with an error to the source."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    assert pb.csms([3, "1", []], now=1.0) == [
        ("refused", "csms", "Heartbeat", "FormatViolation"),
        ("send", "charger", [4, "1", "FormationViolation", ANY, {}]),
        ("completed", "Heartbeat", "charger", "error", 1.0),
    ]


def test_malformed_reply_sends_next_queued_call() -> None:
    """After a malformed reply ended the outstanding call, the queue head is sent."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    pb.charger([2, "2", "Heartbeat", {}])
    assert pb.csms([3, "1", []], now=1.0)[-1] == ("send", "csms", [2, "2", "Heartbeat", {}])


def test_result_failing_response_schema_becomes_callerror() -> None:
    """A CALLRESULT that breaks its response schema reaches the source as a CALLERROR."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    assert pb.csms([3, "1", {}], now=1.0) == [
        ("received", "csms", "result", "Heartbeat"),
        ("refused", "csms", "Heartbeat", "OccurrenceConstraintViolation"),
        ("send", "charger", [4, "1", "OccurenceConstraintViolation", ANY, {}]),
        ("completed", "Heartbeat", "charger", "error", 1.0),
    ]


# ---- CALLERROR replies ------------------------------------------------------------------------


def test_known_callerror_is_passed_through_unchanged() -> None:
    """A CSMS CALLERROR valid in the charger's dialect reaches the charger with id, code and text unchanged."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    text = '[4, "1", "NotSupported", "no", {"a": 1}]'
    pb.csms(text, now=1.0)
    sends = [c for c in pb.raw if isinstance(c, Send)]
    assert [(s.leg, json.loads(s.text)) for s in sends] == [(CHARGER, json.loads(text))]


def test_callerror_completes_with_error_outcome() -> None:
    """A CSMS CALLERROR ends the charger's call with the outcome "error"."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    assert pb.csms([4, "1", "NotSupported", "no", {}], now=2.0) == [
        ("received", "csms", "error", "Heartbeat"),
        ("send", "charger", [4, "1", "NotSupported", "no", {}]),
        ("completed", "Heartbeat", "charger", "error", 2.0),
    ]


@pytest.mark.parametrize(
    ("dialect", "code", "spelled"),
    [
        (Dialect.OCPP16, "FormatViolation", "FormationViolation"),
        (Dialect.OCPP16, "OccurrenceConstraintViolation", "OccurenceConstraintViolation"),
        (Dialect.OCPP16, "RpcFrameworkError", "FormationViolation"),
        (Dialect.OCPP16, "MessageTypeNotSupported", "GenericError"),
        (Dialect.OCPP16, "Bogus", "GenericError"),
        (Dialect.OCPP201, "FormationViolation", "FormatViolation"),
        (Dialect.OCPP201, "OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
        (Dialect.OCPP201, "Bogus", "GenericError"),
    ],
)
def test_callerror_code_is_respelled_for_charger(dialect: Dialect, code: str, spelled: str) -> None:
    """A CSMS CALLERROR code unknown to the charger's dialect is respelled, or generalised to GenericError."""
    pb = Playbook(dialect)
    pb.charger(HEARTBEAT)
    assert ("send", "charger", [4, "1", spelled, "why", {"k": "v"}]) in pb.csms([4, "1", code, "why", {"k": "v"}])


def test_long_callerror_description_is_truncated() -> None:
    """A CSMS CALLERROR description is cut to 255 characters before it reaches the charger."""
    pb = Playbook(Dialect.OCPP201)
    pb.charger(HEARTBEAT)
    pb.csms([4, "1", "GenericError", "d" * 300, {}])
    (send,) = [c for c in pb.raw if isinstance(c, Send)]
    assert send.message == CallError("1", "GenericError", "d" * 255, {})


@pytest.mark.parametrize(
    "frame",
    [
        '[4, "1", "GenericError"]',
        '[4, "1", "GenericError", 5, {}]',
        '[4, "1", "GenericError", "why", [1]]',
        '[4, "1", 17, "why", {}]',
        '[4, "1", "GenericError", "why", {}, "extra"]',
    ],
)
def test_malformed_callerror_reaches_charger_well_formed(frame: str) -> None:
    """A CSMS CALLERROR the parser had to repair reaches the charger as a complete, well-formed frame."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    pb.csms(frame)
    (send,) = [c for c in pb.raw if isinstance(c, Send)]
    assert isinstance(send.message, CallError)
    assert json.loads(send.text) == [4, "1", "GenericError", send.message.error_description, {}]


# ---- translation ------------------------------------------------------------------------------


def test_differing_dialects_without_translator_answer_not_implemented() -> None:
    """With different dialects and no translator a charger CALL is answered NotImplemented, nothing sent."""
    pb = Playbook(Dialect.OCPP16, Dialect.OCPP201)
    assert pb.charger([2, "1", "BootNotification", BOOT_16]) == [
        ("received", "charger", "call", "BootNotification"),
        ("refused", "charger", "BootNotification", "NotImplementedAction"),
        ("send", "charger", [4, "1", "NotImplemented", ANY, {}]),
    ]


def test_translation_failing_target_schema_is_refused() -> None:
    """A translated CALL that breaks the CSMS's schema is never sent; the charger gets InternalError."""
    pb = Playbook(Dialect.OCPP16, Dialect.OCPP201, TableTranslator({"BootNotification": {"reason": "PowerUp"}}))
    assert pb.charger([2, "1", "BootNotification", BOOT_16]) == [
        ("received", "charger", "call", "BootNotification"),
        ("refused", "charger", "BootNotification", "SchemaViolation"),
        ("send", "charger", [4, "1", "InternalError", ANY, {}]),
        ("completed", "BootNotification", "charger", "error", 0.0),
    ]


def test_translated_call_is_sent_as_translated() -> None:
    """A charger CALL goes upstream as the translator built it, under the translator's id."""
    pb = Playbook(Dialect.OCPP16, Dialect.OCPP201, TableTranslator({"BootNotification": BOOT_201}))
    assert pb.charger([2, "1", "BootNotification", BOOT_16])[-1] == (
        "send",
        "csms",
        [2, "gw-1", "BootNotification", BOOT_201],
    )


def test_translated_result_returns_under_source_id() -> None:
    """The CSMS's answer to a translated call reaches the charger under the charger's own id."""
    pb = Playbook(Dialect.OCPP16, Dialect.OCPP201, TableTranslator({"BootNotification": BOOT_201}))
    pb.charger([2, "1", "BootNotification", BOOT_16])
    assert pb.csms([3, "gw-1", BOOT_ANSWER], now=1.0) == [
        ("received", "csms", "result", "BootNotification"),
        ("send", "charger", [3, "1", BOOT_ANSWER]),
        ("completed", "BootNotification", "charger", "result", 1.0),
    ]


def test_translated_result_failing_source_schema_becomes_internal_error() -> None:
    """A translated CALLRESULT that breaks the charger's schema reaches it as InternalError instead."""
    translator = TableTranslator({"BootNotification": BOOT_201}, {"BootNotification": {"status": "Accepted"}})
    pb = Playbook(Dialect.OCPP16, Dialect.OCPP201, translator)
    pb.charger([2, "1", "BootNotification", BOOT_16])
    assert pb.csms([3, "gw-1", BOOT_ANSWER], now=1.0) == [
        ("received", "csms", "result", "BootNotification"),
        ("refused", "csms", "BootNotification", "SchemaViolation"),
        ("send", "charger", [4, "1", "InternalError", ANY, {}]),
        ("completed", "BootNotification", "charger", "error", 1.0),
    ]


def test_translated_csms_call_is_validated_against_csms_schema() -> None:
    """A CSMS CALL is checked against the CSMS's dialect before translation, so a 1.6 Reset is refused by 2.0.1."""
    pb = Playbook(Dialect.OCPP16, Dialect.OCPP201, TableTranslator({"Reset": RESET_16}))
    answer = pb.csms([2, "r1", "Reset", RESET_16])[-1]
    assert answer == ("send", "csms", [4, "r1", "PropertyConstraintViolation", ANY, {}])


def test_translated_csms_call_reaches_charger() -> None:
    """A valid CSMS CALL reaches the charger in the charger's dialect."""
    pb = Playbook(Dialect.OCPP16, Dialect.OCPP201, TableTranslator({"Reset": RESET_16}))
    assert pb.csms([2, "r1", "Reset", RESET_201])[-1] == ("send", "charger", [2, "gw-1", "Reset", RESET_16])


# ---- next_deadline ----------------------------------------------------------------------------


def test_next_deadline_is_none_when_idle() -> None:
    """With nothing outstanding or queued there is no deadline."""
    assert Playbook().session.next_deadline() is None


def test_next_deadline_is_outstanding_calls_deadline() -> None:
    """With a call outstanding the next deadline is its arrival plus the leg's timeout."""
    pb = Playbook(csms_timeout=30.0)
    pb.charger(HEARTBEAT, now=5.0)
    assert pb.session.next_deadline() == 35.0


def test_next_deadline_covers_queue_of_down_leg() -> None:
    """A call queued for a down leg sets the next deadline."""
    pb = Playbook(csms_up=False, csms_timeout=30.0)
    pb.charger(HEARTBEAT, now=2.0)
    assert pb.session.next_deadline() == 32.0


def test_next_deadline_is_earliest_of_both_legs() -> None:
    """With calls outstanding on both legs the earliest deadline wins."""
    pb = Playbook(charger_timeout=10.0, csms_timeout=30.0)
    pb.charger(HEARTBEAT, now=0.0)
    pb.csms([2, "r1", "Reset", RESET_16], now=4.0)
    assert pb.session.next_deadline() == 14.0


def test_next_deadline_clears_after_reply() -> None:
    """Once the outstanding call is answered there is no deadline left."""
    pb = Playbook()
    pb.charger(HEARTBEAT)
    pb.csms([3, "1", HEARTBEAT_ANSWER])
    assert pb.session.next_deadline() is None
