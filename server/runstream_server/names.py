"""Names that users choose and that become file names, URL parts or headers.

A model's name is the file name its download is saved under (``runstream asset
download``) and a part of its URL, so it may hold no path separators, no ``..``, no
control characters (a CR/LF would split the download's headers) and is bounded.
"""

from __future__ import annotations

import re

__all__ = ["MODEL_NAME_LIMIT", "model_name_problem"]

MODEL_NAME_LIMIT = 200
# Letters and digits of any script, then also . _ - + and inner spaces.
_MODEL = re.compile(r"[^\W_][\w.+ -]*", re.UNICODE)


def model_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a model, or None if it can."""
    allowed = (f"use 1-{MODEL_NAME_LIMIT} letters, digits, '.', '_', '-', '+' or spaces, "
               "starting with a letter or digit and not ending in a space or '.' "
               "(the name becomes the downloaded file's name), e.g. 'mnist-classifier'")
    if not name:
        return f"the model name is empty: {allowed}"
    if len(name) > MODEL_NAME_LIMIT:
        return f"the model name is {len(name)} characters long: {allowed}"
    if not _MODEL.fullmatch(name) or name[-1] in " .":
        return f"the model name {name!r} is not allowed: {allowed}"
    return None
