"""TypeScript declarations from msgspec's JSON Schema of the API's structs.

A small emitter, so that generating needs no Node tool: each named struct becomes an
``export interface`` of the same name, ``X | None``
becomes ``X | null``, literals and enums become unions of literals, lists become
arrays, dicts become ``Record<string, …>``, tuples become tuple types, and ``int`` and
``float`` become ``number``. Docstrings and field descriptions become doc comments.

A field with a default is optional (``name?:``) where it may be left out: in what
clients send (the ``inputs``: request bodies, parameters, websocket messages) and in
what the server sends from an ``omit_defaults`` struct. Every other field the server
sends is always there, so it is required.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import msgspec
import msgspec.inspect as mi

__all__ = ["declarations", "ts_type"]

REF = "#/components/schemas/"


def _name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _group(ts: str) -> str:
    """Parenthesize a union before it gets ``[]``."""
    return f"({ts})" if " | " in ts else ts


def ts_type(schema: dict[str, Any]) -> str:
    """The TypeScript type of one JSON Schema (as msgspec writes them)."""
    if "$ref" in schema:
        return _name(schema["$ref"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [ts_type(s) for s in schema[key]]
            return " | ".join(dict.fromkeys(parts))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(ts_type({**schema, "type": k}) for k in kind)
    if kind == "string":
        return "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(ts_type(s) for s in schema["prefixItems"]) + "]"
        return _group(ts_type(schema.get("items", {}))) + "[]"
    if kind == "object":
        if "properties" in schema:
            return _inline(schema)
        extra = schema.get("additionalProperties", {})
        return f"Record<string, {ts_type(extra) if isinstance(extra, dict) else 'unknown'}>"
    return "unknown"


def _inline(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    fields = [f"{_key(k)}{'' if k in required else '?'}: {ts_type(v)}"
              for k, v in schema["properties"].items()]
    return "{ " + "; ".join(fields) + " }"


def _key(name: str) -> str:
    return name if name.isidentifier() else json.dumps(name)


def _doc(text: str, indent: str) -> list[str]:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if not lines:
        return []
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


def _structs(types: Iterable[type]) -> dict[str, type]:
    """Every struct class reachable from ``types``, by name."""
    found: dict[str, type] = {}

    def walk(info: mi.Type) -> None:
        if isinstance(info, mi.StructType):
            if info.cls.__name__ in found:
                return
            found[info.cls.__name__] = info.cls
            for f in info.fields:
                walk(f.type)
        elif isinstance(info, mi.Metadata):
            walk(info.type)
        elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
            walk(info.item_type)
        elif isinstance(info, mi.TupleType):
            for item in info.item_types:
                walk(item)
        elif isinstance(info, mi.DictType):
            walk(info.key_type)
            walk(info.value_type)
        elif isinstance(info, mi.UnionType):
            for item in info.types:
                walk(item)

    for info in mi.multi_type_info(list(types)):
        walk(info)
    return found


def _always_sent(cls: type | None, inputs: set[type]) -> bool:
    """Does every encoded value of ``cls`` carry all its fields?"""
    if cls is None or cls in inputs:
        return False
    return not cls.__struct_config__.omit_defaults  # type: ignore[attr-defined]


def _interface(name: str, schema: dict[str, Any], always: bool = False) -> list[str]:
    doc = "\n\n".join(t for t in (schema.get("title", ""), schema.get("description", ""))
                      if t and t != name)
    if schema.get("type") != "object" or "properties" not in schema:
        return [*_doc(doc, ""), f"export type {name} = {ts_type(schema)};"]
    required = set(schema.get("required", []))
    out = [*_doc(doc, ""), f"export interface {name} {{"]
    for field, prop in schema["properties"].items():
        out += _doc(prop.get("description", ""), "  ")
        optional = "" if always or field in required else "?"
        out.append(f"  {_key(field)}{optional}: {ts_type(prop)};")
    out.append("}")
    return out


def declarations(types: Iterable[type], header: str, inputs: Iterable[type] = ()) -> str:
    """A TypeScript module declaring every named struct reachable from ``types``
    (sorted by name, so the output is stable); ``inputs``: the structs clients send."""
    unique = list(dict.fromkeys(types))
    _refs, components = msgspec.json.schema_components(unique, ref_template=REF + "{name}")
    classes, sent = _structs(unique), set(_structs(inputs).values())
    lines = [*(f"// {line}" if line else "//" for line in header.splitlines()), ""]
    for name in sorted(components):
        always = _always_sent(classes.get(name), sent)
        lines += [*_interface(name, components[name], always), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
