"""Uploaded media files on disk: ``MEDIA_ROOT/<tenant id>/<sha256>``.

Files are content-addressed and immutable: the same bytes uploaded twice are one file, and
a name always means the same bytes, so any web server may serve ``MEDIA_ROOT`` with long
cache lifetimes (the backend itself never serves them; screens get URLs built from
``MEDIA_BASE_URL``). An upload is streamed into ``<tenant>/.incoming/<random>.part``,
hashed and counted as it arrives, refused as soon as it passes its size limit or its first
bytes are not an accepted format, flushed to disk (``fsync``) and only then renamed to its
final name (atomic on one file system). Whatever ends an upload early — too large, wrong
type, the client vanishing, cancellation — removes the partial file; nothing half-written
ever has a final name.

A file renamed into place whose database change then fails to commit stays as an orphan:
harmless (same bytes as any later upload of it) and never referenced. Files of replaced
revisions are kept as well (revision history names them); collecting unreferenced files
is an operator's maintenance task, not part of the request path.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from uuid import UUID

import anyio.to_thread

from actors.domain.media_types import HEAD_BYTES
from actors.errors import TooLarge, Unavailable

log = logging.getLogger(__name__)

#: Bytes gathered before one write (and hash update) in a worker thread.
WRITE_CHUNK_BYTES = 1024 * 1024
INCOMING = ".incoming"
_FILE_MODE = 0o640
_DIR_MODE = 0o750


class FileUpload:
    """Implements :class:`actors.ports.content.MediaUpload` for one received file."""

    def __init__(self, temp: Path, final: Path, sha256: str, size: int, head: bytes) -> None:
        self._temp = temp
        self._final = final
        self.sha256 = sha256
        self.size = size
        self.head = head
        self.published = False

    async def publish(self) -> None:
        if self.published:
            return
        try:
            await anyio.to_thread.run_sync(_rename_durably, self._temp, self._final)
        except OSError as exc:
            log.error("media: cannot move %s into place: %s", self._final.name, exc)
            raise Unavailable("the media store cannot be written; retry later") from None
        self.published = True


class FileMediaStore:
    """Implements :class:`actors.ports.content.MediaStore` under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_of(self, tenant_id: UUID, sha256: str) -> Path:
        """Where the file with this hash lives (whether or not it exists)."""
        return self.root / str(tenant_id) / sha256

    @contextlib.asynccontextmanager
    async def receive(
        self,
        tenant_id: UUID,
        chunks: AsyncIterable[bytes],
        *,
        limit: int,
        check_head: Callable[[bytes], object],
    ) -> AsyncIterator[FileUpload]:
        folder = self.root / str(tenant_id)
        incoming = folder / INCOMING
        temp = incoming / f"{uuid.uuid4().hex}.part"
        try:
            fd = await anyio.to_thread.run_sync(_create, incoming, temp)
        except OSError as exc:
            log.error("media: cannot create %s: %s", temp, exc)
            raise Unavailable("the media store cannot be written; retry later") from None
        closed = False
        try:
            hasher = hashlib.sha256()
            size = 0
            head = bytearray()
            head_checked = False
            pending = bytearray()
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload exceeds {limit} bytes")
                if not head_checked:
                    head += chunk[: HEAD_BYTES - len(head)]
                    if len(head) >= HEAD_BYTES:
                        check_head(bytes(head))
                        head_checked = True
                pending += chunk
                if len(pending) >= WRITE_CHUNK_BYTES:
                    await anyio.to_thread.run_sync(_write, fd, hasher, bytes(pending))
                    pending.clear()
            if not head_checked:
                check_head(bytes(head))
            await anyio.to_thread.run_sync(_finish, fd, hasher, bytes(pending))
            os.close(fd)
            closed = True
            digest = hasher.hexdigest()
            yield FileUpload(temp, folder / digest, digest, size, bytes(head))
        except OSError as exc:
            log.error("media: writing %s failed: %s", temp, exc)
            raise Unavailable("the media store cannot be written; retry later") from None
        finally:
            # Synchronous on purpose: this also runs while the request is being cancelled
            # (the client went away), when awaiting a worker thread is no longer possible.
            if not closed:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _create(incoming: Path, temp: Path) -> int:
    incoming.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)


def _write(fd: int, hasher: hashlib._Hash, data: bytes) -> None:
    # hashlib releases the GIL for large buffers: hashing here keeps the loop free.
    hasher.update(data)
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _finish(fd: int, hasher: hashlib._Hash, data: bytes) -> None:
    if data:
        _write(fd, hasher, data)
    os.fsync(fd)


def _rename_durably(temp: Path, final: Path) -> None:
    os.replace(temp, final)
    directory = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
