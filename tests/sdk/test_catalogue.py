"""The event catalogue: docs/events.md is what runstream.events says, and no event type
can be added without saying who writes it and what each field holds."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from runstream import events
from runstream.catalogue import render_markdown, undocumented
from runstream.events import PAYLOADS, Payload

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_docs_events_md_is_the_rendered_catalogue() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/events.md is stale: run scripts/generate (it writes "
        "runstream.catalogue.render_markdown() there) and commit the result")


def test_every_payload_type_is_in_the_catalogue_and_documented() -> None:
    defined = {cls for cls in vars(events).values()
               if isinstance(cls, type) and issubclass(cls, Payload) and cls is not Payload}
    assert defined == set(PAYLOADS.values()), "every Payload subclass belongs in PAYLOADS"
    assert undocumented() == []
    text = render_markdown()
    for name, cls in PAYLOADS.items():
        assert f"### {name}\n\nVersion {cls.VERSION}, written by " in text


def test_a_type_without_writers_or_field_meanings_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class RunTeleported(Payload, frozen=True):
        TYPE: ClassVar[str] = "run.teleported"
        FIELDS: ClassVar[dict[str, str]] = {"to": "where", "speed": "how fast"}
        to: str
        when: float

    monkeypatch.setitem(PAYLOADS, RunTeleported.TYPE, RunTeleported)
    assert undocumented() == [
        "run.teleported: no WRITERS",
        "run.teleported: field `when` has no entry in FIELDS",
        "run.teleported: FIELDS describes `speed`, which is not a field",
    ]


def test_the_catalogue_shows_types_defaults_writers_and_streams() -> None:
    text = render_markdown()
    assert ("| [`model.version_created`](#modelversion_created) | 1 | server | "
            "`model/<name>` |") in text
    assert ("| `status` | `\"completed\"` \\| `\"failed\"` \\| `\"canceled\"` | required |"
            in text)
    assert "| `args` | list of string | `[]` |" in text
    assert "| `exit_code` | integer \\| nil | `null` |" in text
