"""The SDK's public API is pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import runstream


def test_the_sdk_exports_the_logger_api() -> None:
    assert runstream.__all__ == ["Logger", "RunstreamWarning", "get_logger"]
    for name in runstream.__all__:
        assert getattr(runstream, name).__doc__, f"runstream.{name} needs a docstring"
