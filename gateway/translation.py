"""The edge of translation: loads the mapping rules once, and each charger's state from the store."""

from __future__ import annotations

import time
from functools import partial

from gateway.config import Config
from gateway.core.dialects import Dialect
from gateway.core.mapping import HANDLERS_USED, RuleSet
from gateway.core.session_types import Translator
from gateway.core.translate.chain import Chain
from gateway.core.translate.config201 import use_config_keys
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.hooks import HOOKS
from gateway.core.translate.settings import Topology, TranslationSettings
from gateway.core.translate.state import KEY_PREFIX, LIFT15_KEY_PREFIX, ChargerState
from gateway.core.translate.translator import HANDLERS, Translation
from gateway.mapping_files import load_mappings
from gateway.net.context import TranslatorFactory
from gateway.store import StateStore


def load_translation_rules(config: Config) -> RuleSet:
    """Read and check every mapping file, as `run` and `check` both do.

    Raises:
        ConfigError: a mapping file is invalid (file, entry and problem in one line).
    """
    # Handlers the files may name include ones not written yet: those answer NotSupported at run time.
    handlers = HANDLERS_USED | {name for name, _ in HANDLERS}
    rules = load_mappings(HOOKS.keys(), handlers, config.translation.mappings_dir)
    use_config_keys(rules.config_keys(Dialect.OCPP16, Dialect.OCPP201))
    return rules


def translator_factory(config: Config, rules: RuleSet) -> TranslatorFactory:
    """The factory a GatewayContext uses to build each charger's Translation."""
    return partial(_make_translator, config, rules)


def settings_for(config: Config, charge_box_id: str) -> TranslationSettings:
    """The translation settings of one charger: the `translation` section plus its topology."""
    t = config.translation
    charger = config.chargers.get(charge_box_id)
    return TranslationSettings(
        default_token_type=t.id_token_default_type,
        no_authorization_idtag=t.no_authorization_idtag,
        boot_default_reason=t.boot_default_reason,
        attach_untagged_meter_values=t.attach_untagged_meter_values,
        start16_requires_ev_connected=t.start16_requires_ev_connected,
        end_on_deauthorization=t.end_on_deauthorization,
        remote_start_expiry_s=t.remote_start_expiry_s,
        topology=Topology(charger.topology if charger else ()),
    )


async def _make_translator(
    config: Config, rules: RuleSet, store: StateStore, charge_box_id: str, charger: Dialect, upstream: Dialect
) -> Translator | None:
    """The translator between `charger` and `upstream`, with its state read back from the store.

    1.5 (SOAP) is first lifted to 1.6 (TRANSLATION.md chapter 5) and, for a 2.0.1 CSMS, carried on by
    the same 1.6 -> 2.0.1 translation an OCPP-J 1.6 charger gets; each stage keeps its own state keys.
    """
    if charger.json_family == upstream.json_family:
        return None
    if charger is not Dialect.OCPP15_SOAP:
        return await _translation(config, rules, store, charge_box_id, charger, upstream, KEY_PREFIX)
    lift = await _translation(config, rules, store, charge_box_id, charger, Dialect.OCPP16, LIFT15_KEY_PREFIX)
    if upstream.json_family is Dialect.OCPP16:
        return lift
    upper = await _translation(config, rules, store, charge_box_id, Dialect.OCPP16, upstream, KEY_PREFIX)
    return Chain(lift, upper)


async def _translation(
    config: Config, rules: RuleSet, store: StateStore, charge_box_id: str, charger: Dialect, upstream: Dialect,
    prefix: str,
) -> Translation:
    documents = {}
    for key in ChargerState.store_keys(prefix):
        documents[key.removeprefix(prefix)] = await store.get_value(charge_box_id, key)
    ctx = HandlerContext(charge_box_id, charger, upstream, ChargerState(documents, prefix=prefix),
                         settings_for(config, charge_box_id), time.time)
    return Translation(ctx, rules)
