"""Translation rules as data: mapping YAML -> checked, frozen rules; a rule maps one message and its answer.

`load_rules` parses and checks mapping files (format: docs/mappings.md) and returns a RuleSet.
`RuleSet.find(source, action, direction)` gives the Rule for a message; `Rule.apply` says what to do
with it (Forward a mapped payload, Answer locally, Delegate to a named code handler, or raise
NotSupportedAction), and `Rule.map_response` maps the target's answer back.

Hooks are the translator's stateful functions, called as `ctx.hook(name, source_payload, value)`:
`source_payload` is the whole payload being mapped, `value` the field's `from` value (None when the
field has no `from`; a hook is not called when `from` finds nothing). A hook returns a JSON value or
`OMIT`. Condition hooks (used in `when: {hook: ...}`) return True or False. `notify` hooks run for
their effect once a payload is mapped; their result is ignored. A request's notify hook gets the
request and None; a response's notify hook gets the target's response and, as its value, the original
source request (None when the caller did not pass it). The contracts (HOOK_CONTRACTS):

- token_to_2x: 1.x idTag (str) -> 2.0.1 IdTokenType {idToken, type, additionalInfo?}; aliases resolved (1.8).
- token_to_1x: 2.0.1 IdTokenType -> 1.x idTag (str, <= 20; alias if longer; NoAuthorization tag) (1.8).
- evse_of_connector: 1.6 connectorId (int) -> 2.0.1 evseId (int); 0 -> 0 (1.7).
- evse_connector_of_connector: 1.6 connectorId (> 0) -> the connector number inside its EVSE (int).
- evse_connector_if_shared: 1.6 connectorId (> 0) -> connector number inside its EVSE if that EVSE has
  several connectors, else OMIT (4.5).
- connector_of_evse: 2.0.1 evseId (int) or EVSE object {id, connectorId?} -> 1.6 connectorId (int); 0 -> 0;
  an EVSE without connectorId -> its first (preferably Available) connector; unknown -> OMIT.
- boot_reason: None -> 2.0.1 BootReasonEnum text (2.2).
- firmware_request_id / log_request_id: None -> requestId (int) of the active firmware / log job, or OMIT.
- new_firmware_job / new_log_job: None -> a new requestId (int), stored as the active job (4.11).
- remote_start_id: None -> a new remoteStartId (int); records the pending remote start from the payload (4.2).
- tx_id_to_2x: 1.6 transactionId (int, upstream side) -> 2.0.1 transactionId (str), or OMIT if unknown (4.3).
- tx_id_to_1x: 2.0.1 transactionId (str) -> 1.6 transactionId (int), or OMIT if unknown (4.3, 4.14).
- tx_id_for_profile: None -> 2.0.1 transactionId (str) for a 1.6 TxProfile: the one named in
  csChargingProfiles.transactionId, else the one open on connectorId; OMIT if none (4.14).
- security_extension: None -> bool, the 1.6 peer of this translation has the security extension (2.10).
- forward_connection_settings: None -> bool, setting security.forward_connection_settings (1.9).
- transaction_open: 1.6 connectorId (int) or None -> bool, a transaction is open there (2.6, 4.10).
- signed_firmware_job: None -> bool, the active firmware job came as SignedUpdateFirmware (2.8).
- security_log_job: requestId (int) or None -> bool, that (or the active) log job is a SecurityLog (2.9, 4.10).
- notify remember_trigger / trigger_answered (2.0.1 TriggerMessage and the 1.6 charger's answer: a
  triggered boot gets reason Triggered, a triggered status passes the dedup; 2.2, 4.10),
  remember_boot (BootNotification), remember_reset (Reset), remember_firmware_job /
  remember_signed_firmware_job (UpdateFirmware / SignedUpdateFirmware), remember_log_job (GetLog),
  remember_remote_start (RequestStartTransaction), remote_start_answered / firmware_update_answered
  (the target's response payload).
- 1.5 charger lifted to 1.6 (TRANSLATION.md 5), notify hooks over the lift's own state:
  lift15_boot_answered (1.6 BootNotification response: the interval the charger was told),
  lift15_firmware_status / lift15_diagnostics_status (the charger's status notification, kept for
  emulated triggers, 5.5.1), lift15_remote_stop_answered / lift15_reset_answered /
  lift15_unlock_answered (the 1.5 charger's answer, value: the 1.6 request; an accepted command is a
  stop cause for 5.4).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gateway.core import schemas
from gateway.core.config_keys import ConfigKey, ConfigKeyTable, parse_config_keys
from gateway.core.convert import OMIT, Omit
from gateway.core.dialects import Dialect
from gateway.core.mapping_apply import Env, LocalOutcome, MappingContext, map_section, test
from gateway.core.mapping_check import check_message
from gateway.core.mapping_rules import parse_document, parse_yaml
from gateway.core.mapping_schema import Schema, message_schema
from gateway.core.mapping_spec import Document, EnumTable, MessageSpec, Section
from gateway.errors import ConfigError, LocalError, NotSupportedAction, RemoteError, SchemaViolation

__all__ = ["HANDLERS_USED", "HOOKS_USED", "HOOK_CONTRACTS", "OMIT", "Answer", "ConfigKey", "ConfigKeyTable",
           "Delegate", "Forward", "MappingContext", "Omit", "Rule", "RuleSet", "load_rules"]

JsonObject = dict[str, Any]
MessageDirection = Literal["up", "down"]

#: Every hook the built-in mapping files use: name -> contract (value given -> value returned).
HOOK_CONTRACTS: Final[Mapping[str, str]] = {
    "token_to_2x": "1.x idTag -> 2.0.1 IdTokenType {idToken, type, additionalInfo?}",
    "token_to_1x": "2.0.1 IdTokenType -> 1.x idTag (<= 20 characters; alias when longer)",
    "evse_of_connector": "1.6 connectorId -> 2.0.1 evseId (0 -> 0)",
    "evse_connector_of_connector": "1.6 connectorId -> connector number inside its EVSE",
    "evse_connector_if_shared": "1.6 connectorId -> connector number inside its EVSE, or OMIT if the EVSE has one",
    "connector_of_evse": "2.0.1 evseId or EVSE {id, connectorId?} -> 1.6 connectorId (0 -> 0), OMIT if unknown",
    "boot_reason": "None -> 2.0.1 BootReasonEnum value",
    "firmware_request_id": "None -> requestId of the active firmware job, or OMIT",
    "log_request_id": "None -> requestId of the active log job, or OMIT",
    "new_firmware_job": "None -> new requestId, stored as the active firmware job",
    "new_log_job": "None -> new requestId, stored as the active DiagnosticsLog job",
    "remote_start_id": "None -> new remoteStartId; records the pending remote start",
    "tx_id_to_2x": "1.6 transactionId -> 2.0.1 transactionId, or OMIT if unknown",
    "tx_id_to_1x": "2.0.1 transactionId -> 1.6 transactionId, or OMIT if unknown",
    "tx_id_for_profile": "None -> 2.0.1 transactionId for a 1.6 TxProfile, or OMIT",
    "security_extension": "None -> true if the 1.6 peer has the security extension",
    "forward_connection_settings": "None -> setting security.forward_connection_settings",
    "transaction_open": "1.6 connectorId or None -> true if a transaction is open there",
    "signed_firmware_job": "None -> true if the active firmware job came as SignedUpdateFirmware",
    "security_log_job": "requestId or None -> true if that (or the active) log job is a SecurityLog",
    "remember_boot": "notify; the BootNotification payload (boot cache, meterType, reason)",
    "remember_reset": "notify; the Reset payload (boot reason, stop reason)",
    "remember_trigger": "notify; 2.0.1 TriggerMessage payload (a triggered boot or status is marked, 2.2, 4.10)",
    "trigger_answered": "notify; 1.6 TriggerMessage response, value the request (a refusal drops the mark)",
    "remember_firmware_job": "notify; UpdateFirmware payload whose requestId becomes the active job",
    "remember_signed_firmware_job": "notify; SignedUpdateFirmware payload, as above, marked signed",
    "remember_log_job": "notify; GetLog payload (requestId, logType) becomes the active log job",
    "remember_remote_start": "notify; RequestStartTransaction payload becomes a pending remote start",
    "remote_start_answered": "notify; RequestStartTransaction response (transactionId of an open transaction)",
    "firmware_update_answered": "notify; UpdateFirmware response (a refusal is reported upstream)",
    "lift15_boot_answered": "notify; 1.6 BootNotification response to a 1.5 charger (interval it was told)",
    "lift15_firmware_status": "notify; 1.5 FirmwareStatusNotification (last status, for emulated triggers)",
    "lift15_diagnostics_status": "notify; 1.5 DiagnosticsStatusNotification (last status, for emulated triggers)",
    "lift15_remote_stop_answered": "notify; 1.5 RemoteStopTransaction response, value the request (stop reason)",
    "lift15_reset_answered": "notify; 1.5 Reset response, value the request (stop reason)",
    "lift15_unlock_answered": "notify; 1.5 UnlockConnector response, value the request (stop reason)",
}
#: Every hook name the built-in mapping files use; the translator registers these.
HOOKS_USED: Final = frozenset(HOOK_CONTRACTS)
#: Code handlers the built-in mapping files name (TRANSLATION.md 6.1 "Stateful code").
HANDLERS_USED: Final = frozenset({
    "status_notification", "start_transaction", "stop_transaction", "meter_values_in_transaction",
    "transaction_event", "notify_event", "notify_report", "unlock_connector", "get_configuration",
    "change_configuration", "get_variables", "set_variables", "get_base_report", "get_report", "reset_on_idle",
    "change_availability_fan_out", "trigger_station_status", "trigger_transaction_meter_values",
    "trigger_transaction_event", "get_transaction_status", "get_charging_profiles",
    "get_installed_certificate_ids",
    # 1.5 charger lifted to 1.6 (TRANSLATION.md 5)
    "lift15_status_notification", "lift15_start_transaction", "lift15_stop_transaction",
    "lift15_data_transfer_limits", "lift15_trigger_message", "lift15_get_configuration",
    "lift15_change_configuration",
})


@dataclass(frozen=True, slots=True)
class Forward:
    """Send `payload` as `action` to the target; map its answer with `rule.map_response`."""

    action: str
    payload: JsonObject
    rule: Rule


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the source with `payload`; nothing is sent on."""

    payload: JsonObject


@dataclass(frozen=True, slots=True)
class Delegate:
    """Hand the message to the named code handler."""

    handler: str


Outcome = Forward | Answer | Delegate


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """The checked mapping of one (source dialect, action): target action, request and response mappings."""

    spec: MessageSpec
    enums: Mapping[str, EnumTable]
    target_action: str
    request: Section | None
    response: Section | None
    variants: Mapping[str, Rule] = field(default_factory=dict)
    _target_request: Schema = field(default_factory=dict, repr=False)
    _source_response: Schema = field(default_factory=dict, repr=False)
    _label: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        # Every apply names the rule (for errors it may raise): spelled once, not per message.
        object.__setattr__(self, "_label", f"{self.action} {self.source}->{self.target}")

    @property
    def source(self) -> Dialect:
        return self.spec.source

    @property
    def target(self) -> Dialect:
        return self.spec.target

    @property
    def action(self) -> str:
        return self.spec.action

    @property
    def direction(self) -> str:
        """`up` (charger-initiated), `down` (CSMS-initiated) or `both`."""
        return self.spec.direction

    @property
    def handler(self) -> str | None:
        """The code handler for the whole message, or None."""
        return self.spec.handler

    @property
    def local(self) -> JsonObject | None:
        """The fixed local answer for the whole message, or None (a copy: callers may change it)."""
        return copy.deepcopy(self.spec.local)

    @property
    def not_supported(self) -> bool:
        """True when this message is always refused with CALLERROR NotSupported."""
        return self.spec.not_supported is not None

    @property
    def label(self) -> str:
        """`Action source->target`, used in error messages."""
        return self._label

    def apply(self, payload: Mapping[str, Any], ctx: MappingContext, *, validate: bool = True) -> Outcome:
        """Decide what happens to one source request: routes first, then the mapping.

        Args:
            payload: the (schema-valid) source request payload; never mutated.
            ctx: the translator's time and hooks.
            validate: False when the caller validates the mapped payload itself before it leaves (a
                ChargerSession checks every payload a flow emits). A section with notify hooks is
                validated anyway: its hooks must not run for a payload that is never sent.

        Returns:
            Forward (target action, payload valid for its schema if validated, rule for the answer), Answer or
            Delegate.

        Raises:
            NotSupportedAction: the request cannot be carried (answer CALLERROR NotSupported).
            SchemaViolation: the mapped payload fails the target schema (a mapping bug or a lossy value);
                not checked when `validate` is False and the section has no notify hooks.
        """
        if self.spec.handler is not None:
            return Delegate(self.spec.handler)
        return self._apply(payload, ctx, delegate=True, validate=validate)

    def apply_mapping(self, payload: Mapping[str, Any], ctx: MappingContext, *,
                      validate: bool = True) -> Forward | Answer:
        """Like `apply`, for a message whose code handler declined it: routes to handlers are passed over.

        Raises:
            NotSupportedAction: the rule has no mapping (a whole-message handler), or `apply` would raise it.
            SchemaViolation: as for `apply`.
        """
        outcome = self._apply(payload, ctx, delegate=False, validate=validate)
        assert not isinstance(outcome, Delegate)
        return outcome

    def _apply(self, payload: Mapping[str, Any], ctx: MappingContext, *, delegate: bool, validate: bool) -> Outcome:
        label = self._label
        env = Env(label, payload, None, ctx, self.enums)
        if self.spec.not_supported is not None:
            raise NotSupportedAction(f"{label}: {self.spec.not_supported}")
        if self.spec.local is not None:
            return Answer(copy.deepcopy(self.spec.local))
        if self.request is None:
            raise NotSupportedAction(f"{label}: handled by code only ({self.spec.handler})")
        rule: Rule = self
        for route in self.spec.routes:
            if route.outcome == "handler" and not delegate:
                continue
            if test(route.when, payload, env):
                if route.outcome == "local":
                    return Answer(copy.deepcopy(route.value))
                if route.outcome == "handler":
                    return Delegate(route.value)
                if route.outcome == "not_supported":
                    raise NotSupportedAction(f"{label}: {route.value}")
                rule = self.variants[route.value]
                break
        assert rule.request is not None
        try:
            # map_section's result shares nothing with the payload or the rule: no copy needed.
            mapped = map_section(rule.request, payload, rule._target_request, env)
        except LocalOutcome as outcome:
            return Answer(outcome.payload)
        if validate or rule.request.notify:
            _validate(self.target, rule.target_action, "request", mapped, label)
        for name in rule.request.notify:
            ctx.hook(name, payload, None)
        return Forward(rule.target_action, mapped, rule)

    def map_request(self, payload: Mapping[str, Any], ctx: MappingContext) -> JsonObject:
        """The target payload for a request this rule forwards (see `apply` for the other outcomes).

        Raises:
            NotSupportedAction: the rule answers this payload locally or hands it to code; use `apply`.
        """
        outcome = self.apply(payload, ctx)
        if not isinstance(outcome, Forward):
            raise NotSupportedAction(f"{self.label}: not forwarded ({type(outcome).__name__}); use Rule.apply")
        return outcome.payload

    def map_response(self, payload: Mapping[str, Any], ctx: MappingContext,
                     request: Mapping[str, Any] | None = None, *, validate: bool = True) -> JsonObject:
        """Map the target's answer back to the source's response shape.

        Args:
            payload: the target's (schema-valid) response payload; never mutated.
            ctx: the translator's time and hooks.
            request: the original source request, read by `$request.` paths (GetCompositeSchedule).
            validate: as for `apply`.

        Raises:
            NotSupportedAction: a value has no counterpart in the source version.
            SchemaViolation: the mapped answer fails the source's response schema (see `apply` for `validate`).
        """
        if self.response is None:
            raise LocalError(f"{self._label}: this rule maps no response")
        env = Env(self._label, payload, request, ctx, self.enums)
        try:
            mapped = map_section(self.response, payload, self._source_response, env)
        except LocalOutcome as outcome:
            return outcome.payload
        if validate or self.response.notify:
            _validate(self.source, self.action, "response", mapped, self._label)
        for name in self.response.notify:
            ctx.hook(name, payload, None if request is None else dict(request))
        return mapped


def _validate(dialect: Dialect, action: str, direction: schemas.Direction, payload: JsonObject, label: str) -> None:
    try:
        # schemas.validate never fills in defaults (use_default=False), so the output is checked as it is.
        schemas.validate(dialect, action, direction, payload)
    except RemoteError as exc:
        raise SchemaViolation(f"{label}: the translated {direction} fails the {dialect} schema: {exc}") from None


def _family(dialect: Dialect) -> Dialect:
    # 1.6 over SOAP carries the same payloads as 1.6 JSON (SOAP-NOTES section 7), so it shares the rules.
    return Dialect.OCPP16 if dialect is Dialect.OCPP16_SOAP else dialect


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every loaded rule, by (source dialect, action), and the configuration key table of each dialect pair."""

    rules: tuple[Rule, ...] = ()
    _config_keys: Mapping[frozenset[Dialect], ConfigKeyTable] = field(default_factory=dict, repr=False)

    _index: dict[tuple[Dialect, str], tuple[Rule, ...]] = field(default_factory=dict, repr=False, compare=False)
    #: find()'s rules by its arguments: chargers ask the same few questions all day. Only found ones are kept,
    #: so it holds at most a few entries per rule, whatever actions are asked for.
    _found: dict[tuple[Dialect, str, str, Dialect | None], Rule] = field(default_factory=dict, repr=False,
                                                                        compare=False)

    def __post_init__(self) -> None:
        # find() runs for every translated call: index the rules once instead of scanning them.
        for rule in self.rules:
            key = (rule.source, rule.action)
            self._index[key] = (*self._index.get(key, ()), rule)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def find(self, source: Dialect, action: str, direction: MessageDirection,
             target: Dialect | None = None) -> Rule | None:
        """The rule for a message, or None when no file covers it (policy 1.3 c/d decides the answer).

        Args:
            source: dialect of the peer that sent the CALL (1.6 SOAP uses the 1.6 rules).
            action: its action name.
            direction: "up" for charger-initiated, "down" for CSMS-initiated calls.
            target: dialect of the other leg; needed only when several pairs cover the source dialect.
                Rules toward 1.5 are found only when it is named: 1.6 is the pivot (TRANSLATION.md 0.2),
                so a 1.6 message without a named target means the 1.6 <-> 2.0.1 rules.
        """
        key = (source, action, direction, target)
        rule = self._found.get(key)
        if rule is not None:
            return rule
        wanted = _family(source)
        found = [r for r in self._index.get((wanted, action), ())
                 if r.direction in (direction, "both") and (target is None or r.target is _family(target))]
        if target is None and len(found) > 1:
            found = [r for r in found if r.target is not Dialect.OCPP15_SOAP]
        if len(found) > 1:
            raise LocalError(f"{action} from {source} has rules toward several dialects; name the target")
        if not found:
            return None
        rule = self._found[key] = found[0]
        return rule

    def config_keys(self, charger: Dialect, upstream: Dialect) -> ConfigKeyTable:
        """The configuration key table of a dialect pair (empty when no file defines one)."""
        return self._config_keys.get(frozenset({_family(charger), _family(upstream)}), ConfigKeyTable.of(()))


def load_rules(texts: Mapping[str, str], hooks: Collection[str], handlers: Collection[str], *,
               overrides: Mapping[str, str] | None = None) -> RuleSet:
    """Parse and check mapping files into a RuleSet.

    Args:
        texts: built-in files, name -> YAML text; names appear in error messages.
        hooks: hook names the translator implements; any other name in a file is an error.
        handlers: code handler names the translator implements.
        overrides: operator files; an entry replaces the built-in one with the same (source dialect, action),
            an enum table the one with the same name, a config key the one with the same key.

    Raises:
        ConfigError: one line, `FILE: entry.key: problem`.
    """
    enums: dict[frozenset[Dialect], dict[str, EnumTable]] = {}
    messages: dict[tuple[frozenset[Dialect], Dialect, str], MessageSpec] = {}
    keys: dict[frozenset[Dialect], dict[str, ConfigKey]] = {}
    for layer in (texts, overrides or {}):
        replacing = layer is overrides
        for name, text in layer.items():
            document = parse_document(parse_yaml(name, text))
            _merge(document, replacing, enums, messages, keys)
    rules = []
    for (pair, _, _), spec in messages.items():
        check_message(spec, enums.get(pair, {}), hooks, handlers)
        rules.append(_rule(spec, enums.get(pair, {})))
    tables = {pair: ConfigKeyTable.of(tuple(entries.values())) for pair, entries in keys.items()}
    return RuleSet(tuple(rules), tables)


def _merge(document: Document, replacing: bool, enums: dict[frozenset[Dialect], dict[str, EnumTable]],
           messages: dict[tuple[frozenset[Dialect], Dialect, str], MessageSpec],
           keys: dict[frozenset[Dialect], dict[str, ConfigKey]]) -> None:
    pair = frozenset(document.pair)
    pair_enums = enums.setdefault(pair, {})
    for name, table in document.enums.items():
        if name in pair_enums and not replacing:
            raise ConfigError(f"{document.file}: {table.where}: enum table defined twice (also in another file)")
        pair_enums[name] = table
    for spec in document.messages:
        key = (pair, spec.source, spec.action)
        if key in messages and not replacing:
            raise ConfigError(f"{document.file}: {spec.where}: defined twice (also in {messages[key].file})")
        messages[key] = spec
    if document.config_keys is not None:
        pair_keys = keys.setdefault(pair, {})
        for entry in parse_config_keys(document.config_keys):
            if entry.key.lower() in pair_keys and not replacing:
                raise ConfigError(f"{document.file}: config_keys.{entry.key}: defined twice (keys ignore case)")
            pair_keys[entry.key.lower()] = entry


def _rule(spec: MessageSpec, enums: Mapping[str, EnumTable]) -> Rule:
    if spec.request is None or spec.response is None:
        return Rule(spec, enums, spec.target_action, None, None)
    variants = {
        name: Rule(spec, enums, v.target_action, v.request, v.response, {},
                   message_schema(spec.target, v.target_action, "request"),
                   message_schema(spec.source, spec.action, "response"))
        for name, v in spec.variants.items()
    }
    return Rule(spec, enums, spec.target_action, spec.request, spec.response, variants,
                message_schema(spec.target, spec.target_action, "request"),
                message_schema(spec.source, spec.action, "response"))
