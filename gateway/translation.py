"""The edge of translation: loads the mapping rules once, and each charger's state from the store."""

from __future__ import annotations

import time
from functools import partial

from gateway.config import Config
from gateway.core.dialects import Dialect
from gateway.core.mapping import HANDLERS_USED, RuleSet, load_rules
from gateway.core.session_types import Translator
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.hooks import HOOKS
from gateway.core.translate.settings import TranslationSettings
from gateway.core.translate.state import KEY_PREFIX, ChargerState
from gateway.core.translate.translator import HANDLERS, Translation
from gateway.mapping_files import builtin_mapping_texts
from gateway.net.context import TranslatorFactory
from gateway.store import StateStore


def load_translation_rules(config: Config) -> RuleSet:
    """Read and check every mapping file, as `run` and `check` both do.

    Raises:
        ConfigError: a mapping file is invalid (file, entry and problem in one line).
    """
    del config  # operator mapping directories are a setting still to come
    # Handlers the files may name include ones not written yet: those answer NotSupported at run time.
    return load_rules(builtin_mapping_texts(), HOOKS.keys(), HANDLERS_USED | {name for name, _ in HANDLERS})


def translator_factory(config: Config, rules: RuleSet) -> TranslatorFactory:
    """The factory a GatewayContext uses to build each charger's Translation."""
    return partial(_make_translator, config, rules)


async def _make_translator(
    config: Config, rules: RuleSet, store: StateStore, charge_box_id: str, charger: Dialect, upstream: Dialect
) -> Translator | None:
    if charger.json_family == upstream.json_family:
        return None
    documents = {}
    for key in ChargerState.store_keys():
        documents[key.removeprefix(KEY_PREFIX)] = await store.get_value(charge_box_id, key)
    ctx = HandlerContext(charge_box_id, charger, upstream, ChargerState(documents), TranslationSettings(), time.time)
    return Translation(ctx, rules)
