"""Provenance of every fact in a lander profile.

A profile is the single description of one lander that every other part of
lunar-hil reads: the sim models take :meth:`Profile.sim_parameters`, the
telemetry sampler and the XTCE writer take :attr:`Profile.apids`, the codec
takes :attr:`Profile.bands`, and the link models take :attr:`Profile.relays`
and :attr:`Profile.ground_networks`.

Provenance
----------
Every number (and every other fact) carries its source. In YAML a value is
written either plainly, covered by the ``provenance`` of the enclosing block,
or as a fact mapping::

    wet_mass_kg: {value: 5390, source: "seed: 000_827dec95fe2123af.txt"}
    dry_mass_kg: {min: 1000, max: 1730, value: 1365,
                  source: "seed: 000_827dec95fe2123af.txt",
                  value_source: "assumed: midpoint of the seed range"}

A source is ``seed: <seed file name>[ detail]`` or ``assumed: <one-line
reason>``. On the Python side the attribute holds the plain value; the source
goes to the model's ``field_sources`` mapping (field -> source) and a seed
range to ``ranges``. A block's ``provenance`` (a source string) covers its
plain fields and is inherited by the blocks nested in it (a band's covers its
virtual channels, an APID's its channels), so structural choices carry
provenance once, at the block level. (``source`` on a telemetry channel is
the sim state key it samples, not provenance.)

Validation errors name the field: every cross-field check raises a
``field_error`` whose ``ctx['field']`` extends the error location, so the
loader can print ``FILE: bands.1.frame_length: message``.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, ClassVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["SEED_FILES", "Sourced", "ValueRange", "check_source", "field_error"]

# The four seed documents: the only authority for facts in a profile.
SEED_FILES: tuple[str, ...] = (
    "000_827dec95fe2123af.txt",  # APEX 1.0 / Series 3 spec card
    "001_8a23aba8387cb8b0.txt",  # ispace press release: Series 2, CLPS CP-12
    "002_319938995a640147.txt",  # LUPEX encyclopedia page
    "003_c81020baac02197b.txt",  # ispace company profile: HAKUTO-R, Mission 1, rover
)


_SOURCE_RE = re.compile(r"(seed|assumed): (\S.*)")
_FACT_KEYS = frozenset({"value", "source", "min", "max", "value_source"})
_BOOKKEEPING = frozenset({"provenance", "field_sources", "ranges"})


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error located at ``field`` of the model being validated."""
    return PydanticCustomError("field_error", "{message}", {"field": field, "message": message})


def check_source(source: object) -> str:
    """Return ``source`` if it is a valid provenance string, else raise ValueError.

    Valid forms: ``seed: <one of SEED_FILES>[ detail]`` and
    ``assumed: <non-empty one-line reason>``.
    """
    if not isinstance(source, str):
        raise ValueError(f"source must be a string, got {type(source).__name__}")
    if "\n" in source or "\r" in source:
        raise ValueError("source must be one line")
    match = _SOURCE_RE.fullmatch(source.strip())
    if match is None:
        raise ValueError(
            f"source {source!r} must be 'seed: <seed file>' or 'assumed: <one-line reason>'"
        )
    kind, rest = match.groups()
    if kind == "seed":
        name = rest.split()[0]
        if name not in SEED_FILES:
            raise ValueError(f"source names unknown seed file {name!r} (known: {', '.join(SEED_FILES)})")
    return source.strip()


def _model_types(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation can hold (through Optional / list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    if origin in (list, tuple, Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in get_args(annotation):
            found.extend(_model_types(arg))
        return found
    return []


#: Sourced subclass -> its fields that hold nested blocks (see Sourced._child_fields).
_CHILD_FIELDS: dict[type[BaseModel], dict[str, list[type[BaseModel]]]] = {}


class ValueRange(BaseModel):
    """A range a seed document gives for a quantity (the sim uses ``value``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float
    max: float
    source: str


class Sourced(BaseModel):
    """Base of every profile block: unwraps ``{value, source}`` facts and
    checks that every explicitly given field has provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provenance: str | None = Field(default=None, description="block-level provenance")
    field_sources: dict[str, str] = Field(default_factory=dict)
    ranges: dict[str, ValueRange] = Field(default_factory=dict)

    # Fields that are names/identifiers, not facts: they need no provenance.
    _structural: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _child_fields(cls) -> dict[str, list[type[BaseModel]]]:
        # Per class, once: typing.get_type_hints re-evaluates every annotation
        # string, which was ~80 % of a profile's validation time.
        cached = _CHILD_FIELDS.get(cls)
        if cached is not None:
            return cached
        out: dict[str, list[type[BaseModel]]] = {}
        hints = typing.get_type_hints(cls)
        for name in cls.model_fields:
            kinds = _model_types(hints.get(name))
            if kinds and name not in ("ranges",):
                out[name] = kinds
        _CHILD_FIELDS[cls] = out
        return out

    @model_validator(mode="before")
    @classmethod
    def _unwrap_facts(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        children = cls._child_fields()
        out = dict(data)
        field_sources = dict(data.get("field_sources") or {})
        ranges = dict(data.get("ranges") or {})
        block = data.get("provenance")
        if block is not None:
            try:
                check_source(block)
            except ValueError as exc:
                raise field_error("provenance", str(exc)) from None
        for key, raw in data.items():
            if key in _BOOKKEEPING or key not in cls.model_fields:
                continue
            if key in children:
                if block is not None:
                    out[key] = _inherit_source(raw, block)
                continue
            if not (isinstance(raw, dict) and "value" in raw):
                continue
            unknown = sorted(set(raw) - _FACT_KEYS)
            if unknown:
                raise field_error(key, f"unknown key(s) in fact: {', '.join(unknown)}")
            if "source" not in raw:
                raise field_error(key, "fact needs a 'source' ('seed: <file>' or 'assumed: <reason>')")
            try:
                src = check_source(raw["source"])
                value_src = check_source(raw["value_source"]) if "value_source" in raw else src
            except ValueError as exc:
                raise field_error(key, str(exc)) from None
            out[key] = raw["value"]
            field_sources[key] = value_src
            if "min" in raw or "max" in raw:
                if "min" not in raw or "max" not in raw:
                    raise field_error(key, "a range needs both 'min' and 'max'")
                ranges[key] = {"min": raw["min"], "max": raw["max"], "source": src}
        out["field_sources"] = field_sources
        out["ranges"] = ranges
        return out

    @model_validator(mode="after")
    def _check_provenance(self) -> Sourced:
        for name, src in self.field_sources.items():
            try:
                check_source(src)
            except ValueError as exc:
                raise field_error(name, str(exc)) from None
        for name, rng in self.ranges.items():
            value = getattr(self, name, None)
            if rng.min > rng.max:
                raise field_error(name, f"range min {rng.min} > max {rng.max}")
            if isinstance(value, int | float) and not rng.min <= value <= rng.max:
                raise field_error(name, f"value {value} outside its range [{rng.min}, {rng.max}]")
        if self.provenance is not None:
            return self
        children = self._child_fields()
        for name in self.model_fields_set:
            if (
                name in _BOOKKEEPING
                or name in self._structural
                or name in children
                or name in self.field_sources
                or getattr(self, name) is None
                # a value equal to the schema default is no new fact
                or getattr(self, name) == type(self).model_fields[name].get_default(call_default_factory=True)
            ):
                continue
            raise field_error(
                name,
                "no provenance: write {value: ..., source: 'seed: <file>' | 'assumed: <reason>'}"
                " or give the block a 'provenance'",
            )
        return self


def _inherit_source(raw: Any, block: str) -> Any:
    """Pass a block's provenance down to nested blocks that have none."""
    if isinstance(raw, dict) and "provenance" not in raw:
        return {**raw, "provenance": block}
    if isinstance(raw, list):
        return [_inherit_source(item, block) for item in raw]
    return raw
