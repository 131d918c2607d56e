"""The event catalogue, rendered from ``runstream.events``: every type, its version,
its fields (type, default, meaning with units), which component writes it and on
which stream. ``docs/events.md`` is ``render_markdown()`` (``scripts/generate``
writes it; a test fails when it is stale)."""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import msgspec

from runstream.events import MAX_EVENT_BYTES, PAYLOADS, Envelope, Payload

__all__ = ["render_markdown", "undocumented"]

_HEADER = """\
# Event catalogue

<!-- Generated from runstream.events by runstream.catalogue.render_markdown();
     do not edit: run scripts/generate. -->

Every fact runstream knows is one event: an envelope around a payload of one of
the types below. Events travel as MessagePack (an HTTP batch or a Kafka record is
an array of envelopes) and are stored as they came; a reader decodes `data` with
the payload's struct in `runstream.events`. A type or version a reader does not
know is stored and reported (`unknown` in the ingest reply, `unknown_events` in
`GET /api`, the audit), never applied and never an error. One encoded event is at
most {limit:,} bytes.

## The envelope

| field | type | meaning |
|---|---|---|
"""


def undocumented() -> list[str]:
    """What the catalogue cannot say: types without writers, fields without a meaning
    (or meanings of fields that do not exist). Empty when every type is documented."""
    problems = []
    for name, cls in PAYLOADS.items():
        if not cls.WRITERS:
            problems.append(f"{name}: no WRITERS")
        fields = {f.name for f in msgspec.structs.fields(cls)}
        for missing in sorted(fields - cls.FIELDS.keys()):
            problems.append(f"{name}: field `{missing}` has no entry in FIELDS")
        for extra in sorted(cls.FIELDS.keys() - fields):
            problems.append(f"{name}: FIELDS describes `{extra}`, which is not a field")
    return problems


def render_markdown() -> str:
    """``docs/events.md``: the envelope, then each event type in ``PAYLOADS`` order."""
    out = [_HEADER.format(limit=MAX_EVENT_BYTES)]
    for f in msgspec.structs.fields(Envelope):
        out.append(f"| `{f.name}` | {_type(f.type)} | {Envelope.FIELDS[f.name]} |\n")
    out.append("\n## Event types\n\n| type | v | written by | stream |\n|---|---|---|---|\n")
    for name, cls in PAYLOADS.items():
        out.append(f"| [`{name}`](#{_anchor(name)}) | {cls.VERSION} | "
                   f"{', '.join(cls.WRITERS)} | `{cls.STREAM}` |\n")
    for name, cls in PAYLOADS.items():
        out.append(_section(name, cls))
    return "".join(out)


def _section(name: str, cls: type[Payload]) -> str:
    doc = " ".join((cls.__doc__ or "").split()).replace("``", "`")
    lines = [f"\n### {name}\n\n",
             f"Version {cls.VERSION}, written by {', '.join(cls.WRITERS)} "
             f"to `{cls.STREAM}`. {doc}".rstrip() + "\n\n",
             "| field | type | default | meaning |\n|---|---|---|---|\n"]
    for f in msgspec.structs.fields(cls):
        if f.default is not msgspec.NODEFAULT:
            default = f"`{msgspec.json.encode(f.default).decode()}`"
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f"`{msgspec.json.encode(f.default_factory()).decode()}`"
        else:
            default = "required"
        lines.append(f"| `{f.name}` | {_type(f.type)} | {default} | "
                     f"{cls.FIELDS.get(f.name, '')} |\n")
    return "".join(lines)


def _type(tp: Any) -> str:
    """A field's type as a reader of the wire sees it."""
    origin = get_origin(tp)
    if origin is Literal:
        return " \\| ".join(f'`"{a}"`' for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type(a) for a in get_args(tp))
    if origin is list:
        item = get_args(tp)[0]
        inner = _type(item)
        return f"list of ({inner})" if get_origin(item) in (Union, types.UnionType) else (
            f"list of {inner}")
    if tp is type(None):
        return "nil"
    if tp is msgspec.Raw:
        return "MessagePack map"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _anchor(name: str) -> str:
    return name.replace(".", "")
