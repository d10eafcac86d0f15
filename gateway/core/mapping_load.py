"""Mapping files -> a checked RuleSet: built-in files first, then the operator's overrides (docs/mappings.md)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from gateway.core.config_keys import ConfigKey, ConfigKeyTable, parse_config_keys
from gateway.core.dialects import Dialect
from gateway.core.mapping import Rule, RuleSet
from gateway.core.mapping_check import check_message
from gateway.core.mapping_rules import parse_document, parse_yaml
from gateway.core.mapping_schema import message_schema
from gateway.core.mapping_spec import Document, EnumTable, MessageSpec
from gateway.errors import ConfigError


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
