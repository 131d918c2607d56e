"""The blob store: content-addressed files (sha256), streamed in and out, hash verified."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

__all__ = ["BlobMismatch", "BlobStore", "LocalBlobStore", "valid_sha256"]

_SHA = re.compile(r"^[0-9a-f]{64}$")


def valid_sha256(value: str) -> bool:
    return bool(_SHA.match(value))


class BlobMismatch(ValueError):
    pass


class BlobStore(Protocol):
    def exists(self, sha256: str) -> bool: ...

    def path(self, sha256: str) -> Path: ...

    async def put(self, sha256: str, chunks: AsyncIterator[bytes]) -> int: ...


class LocalBlobStore:
    """Blobs as files under ``root/ab/cdef…``; written to a temp file, verified, renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not valid_sha256(sha256):
            raise ValueError(f"{sha256!r} is not a sha256 (64 lowercase hex digits)")
        return self.root / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    async def put(self, sha256: str, chunks: AsyncIterator[bytes]) -> int:
        """Store a blob from ``chunks``; refuse it (and keep nothing) if the hash differs."""
        final = self.path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if digest.hexdigest() != sha256:
                raise BlobMismatch(
                    f"the uploaded bytes hash to {digest.hexdigest()}, not {sha256}; "
                    "the file changed or was corrupted in transit: upload it again")
            os.replace(tmp, final)
        except BaseException:
            os.unlink(tmp)
            raise
        return size
