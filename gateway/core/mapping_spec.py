"""The parsed form of a mapping file: frozen specs of messages, sections, fields, conditions and enum tables.

`gateway.core.mapping_rules` builds them from YAML, `gateway.core.mapping_check` checks them against the
schemas, and `gateway.core.mapping_apply` evaluates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gateway.core.dialects import Dialect
from gateway.core.mapping_schema import Segment
from gateway.core.mapping_yaml import Node

#: Marks "no const given" (None is a valid JSON constant).
NOTHING: Final[Any] = object()


@dataclass(frozen=True, slots=True)
class SourcePath:
    """A path read from the source: relative to the current object, to the payload root, or to the request."""

    text: str
    scope: Literal["local", "root", "request"]
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """A test on the source: `present`, `absent`, `eq`, `ne`, `in`, `not_in`, `hook`, `all`, `any`, `not`."""

    kind: str
    path: SourcePath | None = None
    values: tuple[Any, ...] = ()
    hook: str | None = None
    parts: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class ConvertStep:
    name: str
    arg: str | None = None


@dataclass(frozen=True, slots=True)
class EnumTable:
    """A named or inline value table; `on_unknown` None means it must cover the whole source enum."""

    name: str
    table: Mapping[str, str]
    where: str


@dataclass(frozen=True, slots=True)
class Default:
    """`default:` a literal, `{now: utc}` or `{from: path}`."""

    literal: Any = None
    now: bool = False
    source: SourcePath | None = None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one target field (keyed by its target path) gets its value."""

    target: tuple[Segment, ...]
    where: str
    sources: tuple[SourcePath, ...] = ()
    const: Any = NOTHING
    default: Default | None = None
    hook: str | None = None
    converts: tuple[ConvertStep, ...] = ()
    enum: str | EnumTable | None = None
    on_unknown: tuple[str, Any] | None = None
    when: Condition | None = None
    on_missing: tuple[str, Any] | None = None
    narrowing: bool = False
    each: EachSpec | None = None

    @property
    def has_const(self) -> bool:
        return self.const is not NOTHING

    @property
    def is_guard(self) -> bool:
        """A spec with only `when`: it switches the whole subtree under its target path on or off."""
        return (self.when is not None and not self.sources and not self.has_const and self.hook is None
                and self.each is None and self.default is None)


@dataclass(frozen=True, slots=True)
class Section:
    """The mapping of one payload: target fields, source fields knowingly left out, side-effect hooks."""

    where: str
    fields: tuple[FieldSpec, ...] = ()
    drop: tuple[SourcePath, ...] = ()
    notify: tuple[str, ...] = ()
    #: `fields` split once into guards and the fields that produce values (in order): every call is mapped by them.
    guards: tuple[FieldSpec, ...] = field(default=(), init=False, repr=False, compare=False)
    producers: tuple[FieldSpec, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "guards", tuple(f for f in self.fields if f.is_guard))
        object.__setattr__(self, "producers", tuple(f for f in self.fields if not f.is_guard))


@dataclass(frozen=True, slots=True)
class EachSpec:
    """`each:` maps every element of a source array, as an object (`fields`) or a single `value`."""

    source: SourcePath
    section: Section | None = None
    value: FieldSpec | None = None
    require: tuple[str, ...] = ()
    drop: tuple[SourcePath, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """A condition checked before mapping, and what happens instead of the plain mapping when it holds."""

    where: str
    when: Condition
    outcome: str
    value: Any


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """An alternative target for the same source message, chosen by a route."""

    name: str
    where: str
    target_action: str
    request: Section
    response: Section


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One message entry of a mapping file, as written."""

    file: str
    where: str
    source: Dialect
    target: Dialect
    action: str
    direction: str
    target_action: str
    spec_ref: str | None = None
    note: str | None = None
    handler: str | None = None
    local: dict[str, Any] | None = None
    not_supported: str | None = None
    routes: tuple[Route, ...] = ()
    request: Section | None = None
    response: Section | None = None
    variants: Mapping[str, VariantSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed mapping file."""

    file: str
    pair: tuple[Dialect, Dialect]
    enums: Mapping[str, EnumTable]
    messages: tuple[MessageSpec, ...]
    config_keys: Node | None
