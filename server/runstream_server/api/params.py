"""Request parameters as schemas: one msgspec Struct per request declares its path and
query parameters (types, bounds, defaults, descriptions). ``params`` validates a request
with it; ``openapi_parameters`` publishes the same struct in the API description, so the
two cannot disagree.

A field whose name is a ``{placeholder}`` of the route's path is a path parameter; every
other field is a query parameter. Query strings are converted as text (``"12"`` is the
integer 12, ``1``/``0``/``true``/``false`` a boolean); unknown query parameters are
ignored. A bad value is a 400 naming the parameter, what it was and what is allowed; a
path parameter out of its set (an unknown chart kind) is a 404, as no such resource exists.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
from aiohttp import web

from runstream.events import INT64_MAX
from runstream_server.api.errors import problem

__all__ = ["openapi_parameters", "params", "path_names"]

T = TypeVar("T")

_AT = re.compile(r" - at `\$\.(\w+)`$")
_MISSING = re.compile(r"missing required field `(\w+)`")


def path_names(path: str) -> list[str]:
    """The ``{placeholders}`` of an aiohttp route path (``{path:[\\s\\S]+}`` is ``path``)."""
    return re.findall(r"\{(\w+)", path)


def params(request: web.Request, schema: type[T]) -> T:
    """The request's path and query parameters, validated by ``schema``."""
    given: dict[str, str] = {k: request.query[k] for k in request.query}
    given.update(request.match_info)
    in_path = set(request.match_info)
    try:
        return msgspec.convert(given, schema, strict=False)
    except msgspec.ValidationError as exc:
        detail = str(exc)
        found = _AT.search(detail) or _MISSING.search(detail)
        if found is None:  # a struct's own check (__post_init__): its message says it all
            raise problem(400, f"invalid request parameters: {detail}") from None
        name = found.group(1)
        where = "path" if name in in_path else "query"
        field = _field(schema, name)
        allowed = describe(field.type) if field else "valid"
        note = _description(field) if field else ""
        if name not in given:
            message = f"{where} parameter `{name}` is required: {allowed}"
        else:
            message = f"{where} parameter `{name}` must be {allowed}, not {given[name]!r}"
        raise problem(404 if where == "path" else 400,
                      message + (f" ({note})" if note else "")) from None


def _field(schema: type, name: str) -> mi.Field | None:
    info = mi.type_info(schema)
    assert isinstance(info, mi.StructType), schema
    return next((f for f in info.fields if f.encode_name == name), None)


def _description(field: mi.Field) -> str:
    kind = field.type
    if isinstance(kind, mi.Metadata) and kind.extra_json_schema:
        return str(kind.extra_json_schema.get("description", ""))
    return ""


def _bound(value: int) -> str:
    return "2**63-1" if value == INT64_MAX else f"{value}"


def describe(kind: mi.Type) -> str:
    """What a value of this type may be, in words (for error messages)."""
    if isinstance(kind, mi.Metadata):
        return describe(kind.type)
    if isinstance(kind, mi.IntType):
        lo, hi = kind.ge, kind.le
        if lo is not None and hi is not None:
            return f"an integer from {_bound(lo)} to {_bound(hi)}"
        if lo is not None:
            return f"an integer >= {_bound(lo)}"
        return "an integer"
    if isinstance(kind, mi.BoolType):
        return "true or false (or 1 or 0)"
    if isinstance(kind, mi.LiteralType):
        values = [str(v) for v in kind.values]
        return "one of " + ", ".join(values)
    if isinstance(kind, mi.StrType):
        if kind.max_length is not None:
            return f"text of at most {kind.max_length} characters"
        return "text"
    return "valid"


def openapi_parameters(schema: type, path: str) -> list[dict[str, Any]]:
    """OpenAPI parameter objects for ``schema``'s fields (path ones first, as declared)."""
    full = msgspec.json.schema(schema)
    own = full["$defs"][full["$ref"].rsplit("/", 1)[-1]]
    required = set(own.get("required", []))
    in_path = set(path_names(path))
    out = []
    for name, prop in own.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        where = "path" if name in in_path else "query"
        param: dict[str, Any] = {"name": name, "in": where,
                                 "required": where == "path" or name in required,
                                 "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    out.sort(key=lambda p: p["in"] != "path")
    return out
