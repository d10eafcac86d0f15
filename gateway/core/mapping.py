"""Translation rules as data: mapping YAML -> checked, frozen rules; a rule maps one message and its answer.

`load_rules` (gateway.core.mapping_load) parses and checks mapping files (format: docs/mappings.md) into a
RuleSet. `RuleSet.find(source, action, direction)` gives the Rule for a message; `Rule.apply` says what to do
with it (Forward a mapped payload, Answer locally, Delegate to a named code handler, or raise
NotSupportedAction), and `Rule.map_response` maps the target's answer back.

The hooks and code handlers the built-in files may name, and each hook's contract: gateway.core.mapping_hooks.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.core import schemas
from gateway.core.config_keys import ConfigKey, ConfigKeyTable
from gateway.core.convert import OMIT, Omit
from gateway.core.dialects import Dialect
from gateway.core.mapping_apply import Env, LocalOutcome, MappingContext, map_section, test
from gateway.core.mapping_hooks import HANDLERS_USED, HOOK_CONTRACTS, HOOKS_USED
from gateway.core.mapping_schema import Schema
from gateway.core.mapping_spec import EnumTable, MessageSpec, Section
from gateway.errors import LocalError, NotSupportedAction, RemoteError, SchemaViolation

__all__ = ["HANDLERS_USED", "HOOKS_USED", "HOOK_CONTRACTS", "OMIT", "Answer", "ConfigKey", "ConfigKeyTable",
           "Delegate", "Forward", "MappingContext", "Omit", "Rule", "RuleSet"]

JsonObject = dict[str, Any]
MessageDirection = Literal["up", "down"]

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
