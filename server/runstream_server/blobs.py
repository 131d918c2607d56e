"""The blob store: content-addressed files (sha256), streamed in and out, hash verified."""

from __future__ import annotations

import asyncio
import contextlib
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

    async def put_new(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]: ...


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

    async def put_new(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Store a blob whose hash is not known beforehand (MLflow's client uploads
        bare bytes): hashed while it is written, a chunk at a time on a worker thread,
        so neither memory nor the event loop bear the file's size. Answers (sha256,
        size); content already stored is kept once. A failed upload keeps nothing."""
        incoming = self.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=incoming, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:

                def take(chunk: bytes) -> None:
                    digest.update(chunk)
                    out.write(chunk)

                async for chunk in chunks:
                    await asyncio.to_thread(take, chunk)
                    size += len(chunk)
            sha256 = digest.hexdigest()
            final = self.path(sha256)
            if final.is_file():
                os.unlink(tmp)  # this content is stored already
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return sha256, size
