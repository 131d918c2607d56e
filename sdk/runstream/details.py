"""A run's parameters, tags and name as a script logs them: checked, then made events.

:class:`RunDetails` turns ``log_params``, ``set_tags``, ``delete_tag`` and
``set_name`` calls of :class:`~runstream.logger.Logger` into ``params.logged``,
``tags.set``, ``tags.deleted`` and ``run.renamed`` payloads. Values become text
as MLflow makes them (:func:`~runstream.values.text_of`). A parameter is fixed
once logged: logging the same value again is a no-op, another value is refused.
What is refused goes to the caller's ``refuse`` (a warning, or with
``RUNSTREAM_STRICT`` an exception raised before anything of the call is kept).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from runstream.events import (
    MAX_NAME_CHARS,
    MAX_PARAM_CHARS,
    MAX_TAG_CHARS,
    ParamsLogged,
    Payload,
    RunRenamed,
    TagsDeleted,
    TagsSet,
)
from runstream.values import BadValue, check_text

__all__ = ["Refuse", "RunDetails", "halves"]

# Told each refused parameter, tag or name; may raise (strict) to refuse the whole call.
Refuse = Callable[[BadValue], None]


class RunDetails:
    """The parameters logged so far (to keep them fixed); thread-safe."""

    def __init__(self, params: Mapping[str, str] | None = None) -> None:
        self._params: dict[str, str] = dict(params or {})
        self._lock = threading.Lock()

    @property
    def params(self) -> dict[str, str]:
        """The parameters logged through this logger, name → text."""
        with self._lock:
            return dict(self._params)

    def logged(self, params: object, refuse: Refuse) -> ParamsLogged | None:
        """The event for the new parameters of ``params`` (a mapping), or None."""
        checked = _pairs("parameter", params, MAX_PARAM_CHARS, refuse)
        with self._lock:
            fresh: dict[str, str] = {}
            for name, text in checked.items():
                old = self._params.get(name)
                if old is None:
                    fresh[name] = text
                elif old != text:
                    refuse(BadValue(
                        f"parameter {name!r} is already logged as {_short(old)}, so "
                        f"{_short(text)} was refused (a parameter is fixed once logged); "
                        "log the new value under another name, or as a tag (set_tag), "
                        "which may change"))
            if not fresh:
                return None
            self._params.update(fresh)
        return ParamsLogged(params=fresh)

    def set(self, tags: object, refuse: Refuse) -> TagsSet | None:
        """The event setting the tags of ``tags`` (a mapping), or None."""
        checked = _pairs("tag", tags, MAX_TAG_CHARS, refuse)
        return TagsSet(tags=checked) if checked else None

    def deleted(self, keys: Iterable[object], refuse: Refuse) -> TagsDeleted | None:
        """The event deleting the tags ``keys``, or None."""
        names: list[str] = []
        for key in keys:
            try:
                name, _ = check_text("tag", key, "", MAX_TAG_CHARS)
            except BadValue as exc:
                refuse(exc)
                continue
            if name not in names:
                names.append(name)
        return TagsDeleted(keys=names) if names else None

    def renamed(self, name: object, refuse: Refuse) -> RunRenamed | None:
        """The event naming the run ``name`` ("" removes its name), or None."""
        if not isinstance(name, str):
            refuse(BadValue(f"a run name must be a string, not {type(name).__name__}"))
            return None
        name = _storable(str.__str__(name))
        if "\x00" in name or len(name) > MAX_NAME_CHARS:
            refuse(BadValue(f"run name {name[:40]!r}: a name must be at most {MAX_NAME_CHARS} "
                            f"characters without NUL (\\x00), not {len(name):,}; use a "
                            "shorter name"))
            return None
        try:
            return RunRenamed(name=name)
        except ValueError as exc:  # what the event itself refuses
            refuse(BadValue(f"run name {name[:40]!r}: {exc}"))
            return None


def halves(payload: Payload) -> tuple[Payload, Payload] | None:
    """A parameters or tags event of two or more keys split in two (for one too large
    to send), else None."""
    if isinstance(payload, ParamsLogged) and len(payload.params) > 1:
        pairs = list(payload.params.items())
        cut = len(pairs) // 2
        return ParamsLogged(params=dict(pairs[:cut])), ParamsLogged(params=dict(pairs[cut:]))
    if isinstance(payload, TagsSet) and len(payload.tags) > 1:
        pairs = list(payload.tags.items())
        cut = len(pairs) // 2
        return TagsSet(tags=dict(pairs[:cut])), TagsSet(tags=dict(pairs[cut:]))
    return None


def _pairs(what: str, pairs: object, limit: int, refuse: Refuse) -> dict[str, str]:
    if not isinstance(pairs, Mapping):
        refuse(BadValue(f"{what}s must be given as a mapping of name → value (a dict), not "
                        f"{type(pairs).__name__}"))
        return {}
    checked: dict[str, str] = {}
    for key, value in pairs.items():
        try:
            name, text = check_text(what, key, value, limit)
        except BadValue as exc:
            refuse(exc)
            continue
        checked[name] = text
    return checked


def _storable(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (from bad decoding) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "…"
