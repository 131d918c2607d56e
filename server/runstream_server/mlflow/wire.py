"""MLflow's REST conventions, in one place: how requests arrive and answers leave.

What the real client (mlflow-skinny 3.x) sends and expects, each found on the wire:

* success is exactly HTTP 200 with a JSON object (201/204 count as failures);
* an error is ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": …}`` with a 4xx
  status; the client reads the code from the JSON (``experiments/get-by-name`` must
  answer RESOURCE_DOES_NOT_EXIST for ``set_experiment`` to create one); 408, 429 and
  5xx are retried by the client with backoff;
* POST/PATCH/DELETE carry a JSON body; GET carries query parameters, all strings;
* int64 fields arrive as JSON numbers or as strings, doubles as numbers or as the
  strings "NaN", "Infinity", "-Infinity"; timestamps are epoch milliseconds;
* run requests carry both ``run_id`` and ``run_uuid`` (some only ``run_id``);
* a list's last page has no ``next_page_token``.

Handlers are wrapped with ``endpoint``: they read with ``Body`` and raise
``MlflowError``; anything runstream's own code raises (bad events, a full disk, a
broker away) is turned into MLflow's error shape here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
from aiohttp import web

from runstream.codec import EventError
from runstream_server.database import is_disk_full
from runstream_server.eventlog import LogUnavailable
from runstream_server.eventstore import ConcurrencyError
from runstream_server.ledger import DiskFull

__all__ = [
    "API",
    "ARTIFACTS_API",
    "Body",
    "Handler",
    "MlflowError",
    "double",
    "double_out",
    "endpoint",
    "exists",
    "finite_json",
    "invalid",
    "missing",
    "ms",
    "ok",
    "pairs_out",
    "routes",
    "seconds",
]

log = logging.getLogger(__name__)

API = "/api/2.0/mlflow"  # + "/experiments/create", …
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"

# error_code → HTTP status, as MLflow's server maps them (protos/databricks.proto).
STATUS = {
    "BAD_REQUEST": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "INVALID_STATE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MlflowError(Exception):
    """An answer in MLflow's error shape: ``code`` is one of ``STATUS``'s keys."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        body = {"error_code": self.code, "message": self.message}
        return web.json_response(body, status=STATUS.get(self.code, 400))


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def missing(message: str) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message)


def exists(message: str) -> MlflowError:
    return MlflowError("RESOURCE_ALREADY_EXISTS", message)


def finite_json(value: Any) -> Any:
    """JSON cannot hold NaN or the infinities: MLflow's server sends them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


_encoder = msgspec.json.Encoder()


def double_out(value: float) -> float | str:
    """A double as MLflow's JSON holds it: a number, or "NaN", "Infinity", "-Infinity"."""
    return value if math.isfinite(value) else finite_json(value)


def ok(data: dict[str, Any] | None = None, *, finite: bool = False) -> web.Response:
    """HTTP 200 with a JSON object (``{}`` when there is nothing to say). Keys whose
    value is None are left out, as MLflow's protobuf JSON leaves out unset fields.
    ``finite``: the caller made every double JSON-safe (``double_out``), so the answer
    is not walked for NaN (a 25,000-point history page costs 3× its encoding to walk)."""
    body = {k: v for k, v in (data or {}).items() if v is not None}
    if not finite:
        body = finite_json(body)
    return web.Response(body=_encoder.encode(body), status=200,
                        content_type="application/json")


def ms(seconds_: float | None) -> int | None:
    """Epoch seconds (runstream) → epoch milliseconds (MLflow)."""
    return None if seconds_ is None else round(seconds_ * 1000)


def seconds(millis: int | None) -> float | None:
    return None if millis is None else millis / 1000


class Body:
    """A request's fields: the JSON body of POST/PATCH/DELETE, the query of GET (each
    value a string, a repeated key a list), with MLflow's lenient scalar rules."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    async def of(cls, request: web.Request) -> Body:
        if request.method == "GET" or not request.can_read_body:
            data: dict[str, Any] = {}
            for key in request.query:
                values = request.query.getall(key)
                data[key] = values if len(values) > 1 else values[0]
            return cls(data)
        raw = await request.read()
        if not raw.strip():
            return cls({})
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise invalid(f"the request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise invalid("the request body must be a JSON object")
        return cls(data)

    def has(self, key: str) -> bool:
        return self.data.get(key) not in (None, "")

    def _scalar(self, key: str) -> Any:
        """The field's value; a one-item list (a repeated query key) as its item."""
        value = self.data.get(key)
        return value[0] if isinstance(value, list) and len(value) == 1 else value

    def text(self, key: str, default: str | None = None) -> str:
        value = self._scalar(key)
        if value is None or value == "":
            if default is None:
                raise invalid(f"Missing value for required parameter '{key}'.")
            return default
        if not isinstance(value, str):
            raise invalid(f"Invalid value {value!r} for parameter '{key}': a string is "
                          "expected")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._scalar(key)
        if value is None or value == "":
            if default is None:
                raise invalid(f"Missing value for required parameter '{key}'.")
            return default
        if isinstance(value, bool):
            raise invalid(f"Invalid value {value!r} for parameter '{key}': an integer is "
                          "expected")
        if isinstance(value, int):
            result = value
        elif ((isinstance(value, str) and value.strip().lstrip("-").isdigit())
              or (isinstance(value, float) and value.is_integer())):
            result = int(value)
        else:
            raise invalid(f"Invalid value {value!r} for parameter '{key}': an integer is "
                          "expected")
        if not -(1 << 63) <= result < (1 << 63):
            raise invalid(f"Invalid value {value!r} for parameter '{key}': out of int64 range")
        return result

    def optional_integer(self, key: str) -> int | None:
        return self.integer(key) if self.has(key) else None

    def number(self, key: str) -> float:
        return double(self.data.get(key), key)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid(f"Invalid value {value!r} for parameter '{key}': true or false")

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        return [value]

    def strings(self, key: str) -> list[str]:
        values = self.items(key)
        if not all(isinstance(v, str) for v in values):
            raise invalid(f"Invalid value for parameter '{key}': a list of strings")
        return values

    def run_id(self) -> str:
        """``run_id``, or the older ``run_uuid`` (the client sends both)."""
        if self.has("run_id"):
            return self.text("run_id")
        if self.has("run_uuid"):
            return self.text("run_uuid")
        raise invalid("Missing value for required parameter 'run_id'.")

    def pairs(self, key: str) -> dict[str, str]:
        """A list of ``{"key": …, "value": …}`` (tags, params) as a dict, in order."""
        found: dict[str, str] = {}
        for item in self.items(key):
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise invalid(f"Invalid value for parameter '{key}': a list of "
                              "{key, value} objects")
            value = item.get("value", "")
            found[item["key"]] = "" if value is None else str(value)
        return found


def double(value: Any, key: str) -> float:
    """A double as MLflow sends it: a number, or "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, bool) or value is None:
        raise invalid(f"Missing value for required parameter '{key}'.")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # "NaN", "Infinity", "-Infinity", "1.5"
        except ValueError:
            pass
    raise invalid(f"Invalid value {value!r} for parameter '{key}': a number is expected")


def pairs_out(values: dict[str, str]) -> list[dict[str, str]]:
    """A dict as MLflow's list of ``{"key", "value"}``."""
    return [{"key": k, "value": v} for k, v in values.items()]


def endpoint(handler: Handler) -> Handler:
    """Answer ``handler``'s failures in MLflow's error shape."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except MlflowError as exc:
            return exc.response()
        except (EventError, ValueError, msgspec.ValidationError) as exc:
            # A payload refused its fields (too long, NUL, empty name): the caller's input.
            return invalid(str(exc)).response()
        except ConcurrencyError as exc:
            return MlflowError("INVALID_STATE", str(exc)).response()
        except LogUnavailable as exc:
            return MlflowError("TEMPORARILY_UNAVAILABLE", str(exc)).response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = "RESOURCE_DOES_NOT_EXIST" if exc.status == 404 else (
                "PERMISSION_DENIED" if exc.status == 403 else (
                    "UNAUTHENTICATED" if exc.status == 401 else "BAD_REQUEST"))
            return web.json_response({"error_code": code, "message": exc.text or exc.reason},
                                     status=exc.status)
        except Exception as exc:
            if isinstance(exc, DiskFull) or is_disk_full(exc):
                return web.json_response(
                    {"error_code": "TEMPORARILY_UNAVAILABLE",
                     "message": f"the server's disk is full ({exc}); nothing of this call "
                                "was stored. Free space and retry."}, status=507)
            log.exception("%s %s failed", request.method, request.path)
            return MlflowError("INTERNAL_ERROR",
                               f"the server failed on this call ({type(exc).__name__}: "
                               f"{str(exc)[:300]}); this is a bug in runstream, see the "
                               "server's log").response()

    wrapped.__name__ = getattr(handler, "__name__", "endpoint")
    wrapped.__doc__ = handler.__doc__
    return wrapped


def routes(prefix: str, table: Iterable[tuple[str, str, Handler]],
           ) -> list[tuple[str, str, Handler]]:
    """``(method, path, handler)`` under ``prefix``, each handler wrapped with
    ``endpoint``. (MLflow's own UI also calls ``/ajax-api/…``; runstream serves its own
    UI, and everything under ``/api`` is behind the token check.)"""
    return [(method, prefix + path, endpoint(handler)) for method, path, handler in table]
