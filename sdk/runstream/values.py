"""What may be logged, and how a value is brought into the event schema.

A logged value becomes exactly one of the schema's types: ``float``, ``int``
(within int64), ``str`` or a flat ``list[float]``. Accepted and converted:

- Python numbers and their subclasses (``bool``, ``IntEnum``, ``numpy.float64``…),
  ``Decimal``, ``Fraction`` and anything else with ``__index__`` or ``__float__``;
  integers beyond int64 become floats;
- NumPy scalars of every numeric type (``float16`` … ``longdouble``, ``bool_``,
  every int width, 0-d arrays), pandas scalars, and anything with ``item()`` (a
  one-element torch tensor);
- strings and their subclasses (``numpy.str_``); lone surrogates, which cannot be
  stored as UTF-8, are replaced by U+FFFD and the point is flagged;
- flat sequences of numbers: lists, tuples, 1-d NumPy arrays of any numeric
  dtype, pandas Series, anything with ``tolist()``.

NaN and infinities are kept, stored as NaN, and flagged. Refused with
:class:`BadValue`, whose message names the metric and says what to log instead:
arrays of two or more dimensions (flatten them with ``.ravel()``: the shape is not
kept, so it is left to you), complex numbers, dicts, None, bytes, nested lists,
other objects, objects whose conversion raises, empty names or names longer than
:data:`MAX_NAME_CHARS`, and values too large for one event (:data:`MAX_VALUE_BYTES`).
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Mapping, Sequence, Set
from decimal import Decimal
from typing import Any, Protocol, SupportsFloat, SupportsIndex

from runstream.events import MAX_EVENT_BYTES, MAX_KEY_CHARS, MetricValue

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_VALUE_BYTES",
    "NONFINITE",
    "REPLACED",
    "ArrayLike",
    "BadValue",
    "Checked",
    "LogValue",
    "RunstreamWarning",
    "check_point",
    "check_text",
    "text_of",
]

_NAN = float("nan")
_INF = float("inf")
_INT64 = 1 << 63
# Room left in an event for its envelope (id, stream, seq, ts) and the batch columns
# of its one point; a value larger than the rest cannot travel at all.
_OVERHEAD = 64 << 10
MAX_VALUE_BYTES = MAX_EVENT_BYTES - _OVERHEAD
# The server keeps metric names in a column of this many characters.
MAX_NAME_CHARS = 300
_FLOAT_BYTES = 9  # a MessagePack float64
_DEPTH = 4  # item()/tolist() unwrapping: deeper means an object that never settles

# Flags of a checked point: the caller warns once per metric and flag.
NONFINITE = 1  # a NaN or infinity was found (kept as NaN)
REPLACED = 2  # lone surrogates in the name or value were replaced by U+FFFD


class ArrayLike(Protocol):
    """NumPy arrays and scalars, torch tensors: anything that turns into Python data."""

    def tolist(self) -> Any: ...


# What ``log()`` accepts, for type checkers; see the module's docstring for the rules.
LogValue = float | str | Sequence[float] | ArrayLike | SupportsFloat | SupportsIndex


class RunstreamWarning(UserWarning):
    """A point was dropped or changed; filter it with ``warnings.simplefilter``."""


class BadValue(TypeError):
    """A point that cannot be logged; the message says why and what to do instead."""


# A point ready for the batcher: name, value, step (None: the next one), and flags
# (NONFINITE | REPLACED). Every part is an exact builtin that the codec can encode.
Checked = tuple[str, MetricValue, int | None, int]


def check_point(name: object, value: object, step: object = None) -> Checked:
    """Validate and normalize one point, or raise :class:`BadValue`.

    Never raises anything else: an object whose ``tolist``, ``item`` or
    ``__float__`` raises is refused with a BadValue that says so."""
    if name.__class__ is str and name and name.isascii() and len(name) <= MAX_NAME_CHARS:
        checked_name, flags = name, 0  # the common case, without the calls
    else:
        checked_name, flags = _check_name(name)
    checked_step = None if step is None else _check_step(checked_name, step)
    try:
        converted, value_flags = _convert(checked_name, value, True, 0)
    except BadValue:
        raise
    except Exception as exc:  # a user's object that fails to convert (or our own bug)
        raise BadValue(f"metric {checked_name!r}: {_describe(value)} could not be converted "
                       f"({type(exc).__name__}: {_text(exc)}); log a number, a string, or a "
                       "flat list of numbers") from None
    return checked_name, converted, checked_step, flags | value_flags


def _check_name(name: object) -> tuple[str, int]:
    if not isinstance(name, str):
        raise BadValue(f"a metric name must be a non-empty string, not {_describe(name)}")
    exact = str.__str__(name)  # the characters themselves, whatever a subclass overrides
    if not exact:
        raise BadValue("a metric name must be a non-empty string, not ''")
    fixed, flags = _valid_text(exact)
    if len(fixed) > MAX_NAME_CHARS:
        raise BadValue(f"metric {fixed[:40]!r}…: a name of {len(fixed):,} characters is longer "
                       f"than {MAX_NAME_CHARS}; use a shorter name (log long text as a value)")
    return fixed, flags


def _check_step(name: str, step: object) -> int | None:
    if step is None:
        return None
    try:
        index = operator.index(step)  # type: ignore[arg-type]
    except Exception:  # TypeError, or an __index__ that raises
        raise BadValue(f"metric {name!r}: step must be an integer, not {_describe(step)}"
                       ) from None
    if not 0 <= index < _INT64:
        raise BadValue(f"metric {name!r}: step must be between 0 and 2**63-1, not {index}")
    return int.__int__(index)


def _valid_text(text: str) -> tuple[str, int]:
    """``text`` as storable UTF-8: lone surrogates (from bad decoding) become U+FFFD."""
    if text.isascii():
        return text, 0
    try:
        text.encode("utf-8")
        return text, 0
    except UnicodeEncodeError:
        # Through UTF-16 a valid surrogate pair becomes its character again; only
        # lone halves are replaced.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), REPLACED


def _convert(name: str, value: object, allow_list: bool, depth: int) -> tuple[MetricValue, int]:
    cls = value.__class__
    if cls is float:
        return (value, 0) if value - value == 0 else (_NAN, NONFINITE)  # type: ignore[return-value,operator]
    if cls is int:
        return _integer(name, value), 0  # type: ignore[arg-type]
    if cls is str:
        return _string(name, value)  # type: ignore[arg-type]
    if cls is list or cls is tuple:
        return _sequence(name, value, allow_list)  # type: ignore[arg-type]
    if isinstance(value, float):  # numpy.float64 (what max() of an array gives), subclasses
        return _float(float.__float__(value))
    if depth > _DEPTH:
        raise BadValue(f"metric {name!r}: {_describe(value)} did not turn into a number, a "
                       "string or a list; log a plain value")
    return _other(name, value, allow_list, depth)


def _other(name: str, value: object, allow_list: bool, depth: int) -> tuple[MetricValue, int]:
    """Anything but the exact builtins: subclasses, NumPy, pandas, Decimal, tensors…"""
    if isinstance(value, bool):
        return float(value), 0
    if isinstance(value, int):
        return _integer(name, int.__int__(value)), 0
    if isinstance(value, float):
        return _float(float.__float__(value))
    if isinstance(value, str):
        return _string(name, str.__str__(value))
    if isinstance(value, list | tuple | range):
        return _sequence(name, list(value), allow_list)
    if value is None:
        raise BadValue(f"metric {name!r}: None cannot be logged; log a number (NaN for a "
                       "missing one), a string, or a flat list of numbers")
    if isinstance(value, Mapping):
        raise BadValue(f"metric {name!r}: a dict cannot be logged; log each key as its own "
                       "metric, e.g. log(f'{name}.{key}', value)")
    if isinstance(value, bytes | bytearray | memoryview):
        raise BadValue(f"metric {name!r}: bytes cannot be logged; decode them to a string")
    if isinstance(value, Set):
        raise BadValue(f"metric {name!r}: a set has no order and cannot be logged; log a "
                       "sorted list")
    if isinstance(value, complex) or (isinstance(value, numbers.Complex)
                                      and not isinstance(value, numbers.Real)):
        raise BadValue(f"metric {name!r}: a complex number cannot be logged; log its .real "
                       "and .imag (or abs()) as two metrics")
    if isinstance(value, type):
        raise BadValue(f"metric {name!r}: the class {value.__name__} cannot be logged; log "
                       "a value")
    if getattr(value, "shape", None) is not None and getattr(value, "ndim", None) is not None:
        return _array(name, value, allow_list, depth)
    if isinstance(value, numbers.Integral) or hasattr(value, "__index__"):
        return _integer(name, operator.index(value)), 0
    item = getattr(value, "item", None)
    if callable(item):
        return _convert(name, item(), allow_list, depth + 1)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _convert(name, tolist(), allow_list, depth + 1)
    if hasattr(value, "__float__"):
        return _real(name, value)
    raise BadValue(f"metric {name!r}: {_describe(value)} cannot be logged; log a number, "
                   "a string, or a flat list of numbers")


def _array(name: str, value: Any, allow_list: bool, depth: int) -> tuple[MetricValue, int]:
    """NumPy arrays and scalars, pandas Series, tensors: by dimensions and dtype."""
    ndim = int(value.ndim)
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if ndim == 0:  # a scalar
        if kind == "b":
            return float(bool(value)), 0
        if kind in ("i", "u"):
            return _integer(name, int(value)), 0
        if kind == "f":  # float16 … longdouble; item() of a longdouble is itself
            return _float(float(value))
        if kind == "c":
            raise BadValue(f"metric {name!r}: a complex number cannot be logged; log its "
                           ".real and .imag (or abs()) as two metrics")
        if kind in ("U", "S", "M", "m", "V") or not callable(getattr(value, "item", None)):
            return _convert(name, value.tolist(), allow_list, depth + 1)
        return _convert(name, value.item(), allow_list, depth + 1)
    shape = tuple(value.shape)
    if ndim > 1:
        raise BadValue(f"metric {name!r}: an array of shape {shape} cannot be logged (a "
                       "logged list is flat); flatten it with .ravel() or log each row "
                       "under its own name")
    if not allow_list:
        raise BadValue(f"metric {name!r}: nested lists cannot be logged; flatten the values "
                       "or log each row under its own name")
    _fits(name, shape[0])
    if kind in ("b", "i", "u", "f"):  # numeric NumPy (or pandas) data: convert in C
        floats = value.astype("float64")
        numbers_ = floats.tolist()
        if not (abs(floats) < _INF).all():  # NaN or infinite (and no numpy warning)
            return [x if x - x == 0 else _NAN for x in numbers_], NONFINITE
        return numbers_, 0
    return _convert(name, value.tolist(), allow_list, depth + 1)


def _integer(name: str, value: int) -> MetricValue:
    if -_INT64 <= value < _INT64:
        return value
    try:
        return float(value)  # beyond int64 (uint64, Python ints): a float keeps the size
    except OverflowError:
        raise BadValue(f"metric {name!r}: an integer of {len(str(value))} digits is beyond "
                       "a float's range; log its logarithm") from None


def _float(value: float) -> tuple[float, int]:
    return (value, 0) if value - value == 0 else (_NAN, NONFINITE)


def _real(name: str, value: object) -> tuple[float, int]:
    """Decimal, Fraction and other numbers that know their float."""
    if isinstance(value, Decimal) and value.is_nan():  # float() refuses a signaling NaN
        return _NAN, NONFINITE
    try:
        return _float(float(value))  # type: ignore[arg-type]
    except OverflowError:
        raise BadValue(f"metric {name!r}: {_describe(value)} is beyond a float's range"
                       ) from None


def _string(name: str, value: str) -> tuple[str, int]:
    fixed, flags = _valid_text(value)
    size = len(fixed) if fixed.isascii() else len(fixed.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise BadValue(f"metric {name!r}: a string of {size / 1e6:,.0f} MB is larger than "
                       f"one event may be ({MAX_EVENT_BYTES >> 20} MiB); write it to a file "
                       "in outputs/ and it is stored as an artifact")
    return fixed, flags


def _sequence(name: str, values: Sequence[object], allow_list: bool) -> tuple[list[float], int]:
    if not allow_list:
        raise BadValue(f"metric {name!r}: nested lists cannot be logged; flatten the values "
                       "or log each row under its own name")
    _fits(name, len(values))
    out: list[float] = []
    append = out.append
    flags = 0
    for item in values:
        if item.__class__ is float:
            if item - item == 0:
                append(item)
                continue
            append(_NAN)
            flags = NONFINITE
            continue
        number, bad = _convert(name, item, False, 1)
        if isinstance(number, str):
            raise BadValue(f"metric {name!r}: a list may hold only numbers, not "
                           f"{_describe(item, 40)}")
        append(float(number))  # type: ignore[arg-type]  # a list cannot come back: no lists
        flags |= bad
    return out, flags


def _fits(name: str, count: int) -> None:
    size = count * _FLOAT_BYTES
    if size > MAX_VALUE_BYTES:
        raise BadValue(f"metric {name!r}: an array of {count:,} numbers ({size / 1e6:,.0f} MB) "
                       f"is larger than one event may be ({MAX_EVENT_BYTES >> 20} MiB); save "
                       "it to outputs/ (np.save) and it is stored as an artifact")


def _describe(value: object, width: int = 60) -> str:
    """``type repr`` for messages, safe for objects whose repr raises or is huge."""
    kind = type(value).__name__
    try:
        text = repr(value)
    except Exception:
        return f"a {kind} object"
    if len(text) > width:
        text = text[:width] + "…"
    return f"{kind} {_valid_text(text)[0]}"


def _text(exc: BaseException) -> str:
    try:
        return _valid_text(str(exc))[0][:200]
    except Exception:
        return "(no message)"


# -- parameters, tags, run names: text -----------------------------------------


def text_of(value: object) -> str:
    """``value`` as the text a parameter or tag holds: ``str(value)``, as MLflow does
    (``0.5`` → "0.5", ``True`` → "True", ``None`` → "None"), except that a 0-d
    NumPy array or tensor gives its number (``torch.tensor(0.5)`` → "0.5", not
    "tensor(0.5)") and a NumPy scalar its plain value (``np.float64(0.5)`` → "0.5").
    Raises :class:`BadValue` when even ``str()`` fails."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[return-value]
    if cls is float or cls is int or cls is bool:
        return str(value)
    try:
        if isinstance(value, str):
            return str.__str__(value)
        if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
            item = value.item()  # type: ignore[attr-defined]
            if isinstance(item, float) and type(value).__module__ == "numpy":
                return str(value)  # float32(0.1) is "0.1" as MLflow writes it, not its double
            return str(item)
        return str(value)
    except Exception as exc:
        raise BadValue(f"{_describe(value)} could not be turned into text "
                       f"({type(exc).__name__}: {_text(exc)}); pass a string") from None


def check_text(what: str, key: object, value: object, limit: int) -> tuple[str, str]:
    """``(key, text of value)`` for a parameter or tag (``what``: "parameter", "tag"),
    or :class:`BadValue` saying what to change: keys are non-empty strings of at most
    :data:`~runstream.events.MAX_KEY_CHARS` characters, values at most ``limit``
    characters once turned into text (:func:`text_of`); no NUL characters."""
    if not isinstance(key, str) or not key:
        raise BadValue(f"a {what} name must be a non-empty string, not {_describe(key)}")
    name = _valid_text(str.__str__(key))[0]
    if "\x00" in name:
        raise BadValue(f"{what} {name[:40]!r}: the name holds a NUL character (\\x00), which "
                       "cannot be stored; remove it")
    if len(name) > MAX_KEY_CHARS:
        raise BadValue(f"{what} {name[:40]!r}…: a name of {len(name):,} characters is longer "
                       f"than {MAX_KEY_CHARS}; use a shorter name")
    text = _valid_text(text_of(value))[0]
    if "\x00" in text:
        raise BadValue(f"{what} {name!r}: the value holds a NUL character (\\x00), which "
                       "cannot be stored; remove it")
    if len(text) > limit:
        raise BadValue(f"{what} {name!r}: a value of {len(text):,} characters is longer than "
                       f"{limit:,}; log a shorter value (write long text to a file in "
                       "outputs/, where it is stored as an artifact)")
    return name, text
