"""Sources: files, standard input and `.gz` files, read as blocks of whole lines.

A block is bytes ending with a newline (the last one of a source may not).
Memory stays bounded whatever the input: a line longer than MAX_LINE is cut
to MAX_LINE + 2 bytes, enough for the parser to call it invalid.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

from hitwatch.model import MAX_LINE

BLOCK_SIZE = 1 << 17  # small blocks stay in cache: measured faster than 1 MiB
_GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


class SourceError(Exception):
    """A source that cannot be opened or read; the message is for the operator."""


class Source:
    """One input. `live` sources deliver data as it arrives (pipes, terminals)."""

    def __init__(
        self,
        name: str,
        stream: BinaryIO,
        live: bool,
        errors: tuple[type[BaseException], ...] = (OSError, EOFError),
    ) -> None:
        self.name = name
        self.stream = stream
        self.live = live
        self.errors = errors  # what reading may raise: a gzip stream adds zlib.error

    def __repr__(self) -> str:
        return f"Source({self.name!r}, live={self.live})"

    def blocks(self, size: int = BLOCK_SIZE) -> Iterator[bytes]:
        try:
            yield from split_blocks(strip_bom(self._chunks(size)))
        except self.errors as exc:
            raise SourceError(f"{self.name}: {reason_of(exc)}") from None

    def _chunks(self, size: int) -> Iterator[bytes]:
        # read1 returns what has arrived, so a slow pipe is processed promptly.
        read = getattr(self.stream, "read1", None) if self.live else None
        read = read or self.stream.read
        while chunk := read(size):
            yield chunk

    def read_into(self, buffer: memoryview) -> int:
        """Read into `buffer` (for readers that manage their own buffer); 0 at the end."""
        try:
            n: int = self.stream.readinto(buffer)  # type: ignore[attr-defined]  # a buffered file
            return n
        except self.errors as exc:
            raise SourceError(f"{self.name}: {reason_of(exc)}") from None

    def close(self) -> None:
        if self.stream is not sys.stdin.buffer:
            self.stream.close()


def strip_bom(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Drop a UTF-8 byte-order mark at the very start of a stream (Windows editors
    write one; it would make the first line, often a CSV header, invalid)."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= len(BOM):
            break
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if head:
        yield head
    yield from chunks


class LineCutter:
    """Re-cuts a stream of chunks into blocks of whole lines, in bounded memory.

    A line longer than MAX_LINE is cut to MAX_LINE + 2 bytes: still too long
    after a trailing CR is stripped, so the parser calls it invalid however
    the bytes were cut.
    """

    __slots__ = ("carry", "skip_partial")

    def __init__(self) -> None:
        self.carry = b""
        self.skip_partial = False  # drop bytes up to the first newline (starting mid-line)

    def push(self, chunk: bytes) -> bytes:
        """The whole lines completed by `chunk` (b"" when none)."""
        if self.skip_partial:
            nl = chunk.find(b"\n")
            if nl < 0:
                return b""
            self.skip_partial = False
            chunk = chunk[nl + 1 :]
        data = self.carry + chunk if self.carry else chunk
        end = data.rfind(b"\n")
        if end < 0:
            self.carry = data[: MAX_LINE + 2]
            return b""
        self.carry = data[end + 1 : end + 3 + MAX_LINE]
        return data[: end + 1]

    def flush(self) -> bytes:
        """The unfinished last line, as a line of its own (the file is done with)."""
        data, self.carry = self.carry, b""
        self.skip_partial = False
        return data + b"\n" if data else b""


def split_blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut arbitrary chunks into blocks of whole lines, cutting overlong lines."""
    cutter = LineCutter()
    for chunk in chunks:
        block = cutter.push(chunk)
        if block:
            yield block
    last = cutter.flush()
    if last:
        yield last


def reason_of(exc: BaseException) -> str:
    """An I/O error as the operator reads it: `no such file or directory`."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[0].isupper() else exc.strerror
    if isinstance(exc, EOFError):
        return "compressed file ends early"
    return str(exc) or type(exc).__name__


def stdin_is_live() -> bool:
    """Standard input redirected from a regular file is finite; a pipe or terminal is live."""
    try:
        return not stat.S_ISREG(os.fstat(sys.stdin.fileno()).st_mode)
    except (OSError, ValueError):
        return True


def open_source(path: str) -> Source:
    """Open `path` (`-` for standard input), transparently decompressing gzip."""
    if path == "-":
        stream: BinaryIO = sys.stdin.buffer
        live = stdin_is_live()
        name = "<stdin>"
    else:
        name = path
        live = False
        try:
            if os.path.isdir(path):
                raise SourceError(f"{path}: is a directory")
            stream = open(path, "rb")  # noqa: SIM115 - closed by Source.close
        except OSError as exc:
            raise SourceError(f"{path}: {reason_of(exc)}") from None
    if _peek(stream) == _GZIP_MAGIC:
        import gzip  # only for a gzip file
        import zlib

        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
        return Source(name, stream, live, (OSError, EOFError, zlib.error))
    return Source(name, stream, live)


def _peek(stream: BinaryIO) -> bytes:
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return bytes(peek(2)[:2])
    return b""
