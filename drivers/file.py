"""``file:PATH``: the coded channel stream written or read as is, nothing added."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import BinaryIO

from lunar_hil.emulator.errors import LinkError

from .base import READ_CHUNK, AsyncOpenClose, new_counters
from .url import DriverUrl


class FileSink(AsyncOpenClose):
    """Write the stream to a file (truncated on open).

    Writes go straight to a buffered file: a local disk is faster than any link
    we emulate, so no queue is needed (``queued_bytes`` stays 0).
    """

    def __init__(self, url: DriverUrl) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = new_counters()
        self._file: BinaryIO | None = None

    async def open(self) -> None:
        try:
            self._file = open(self.parsed.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot open for writing: {exc}") from exc

    async def write(self, data: bytes) -> None:
        if self._file is None:
            raise LinkError(f"{self.url}: write before open() or after close()")
        self.counters["writes"] += 1
        try:
            self._file.write(data)
        except OSError as exc:
            raise LinkError(f"{self.url}: write failed: {exc}") from exc
        self.counters["bytes_out"] += len(data)
        # Let other tasks run: at --speed max the engine could otherwise starve them.
        await asyncio.sleep(0)

    async def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as exc:
            raise LinkError(f"{self.url}: close failed: {exc}") from exc


class FileSource(AsyncOpenClose):
    """Read a file in chunks of up to 64 KiB; the iteration ends at EOF."""

    def __init__(self, url: DriverUrl, chunk_size: int = READ_CHUNK) -> None:
        self.parsed = url
        self.url = url.display
        self.chunk_size = chunk_size
        self._file: BinaryIO | None = None

    async def open(self) -> None:
        try:
            self._file = open(self.parsed.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot open for reading: {exc}") from exc

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while self._file is not None:
            try:
                chunk = self._file.read(self.chunk_size)
            except OSError as exc:
                raise LinkError(f"{self.url}: read failed: {exc}") from exc
            except ValueError:  # closed while iterating
                return
            if not chunk:
                return
            yield chunk
            await asyncio.sleep(0)

    async def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()
