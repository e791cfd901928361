"""Where a followed file was read to, as a service's checkpoint keeps it (SPEC §11).

A file is known by its identity (st_dev, st_ino) and a checksum of its first
line, so that a restart finds it again at its name or, rotated away while
hitwatch was stopped, in the directory of its name (`sources/follow.py`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

CHECKSUM_BYTES = 4096
"""The first line's checksum covers at most this many of its bytes."""


@dataclass(frozen=True)
class Position:
    """Where a followed file was read to (SPEC §11).

    `offset` is just past the last whole line handed out; `checksum` is that
    of the file's first line (empty while no line was read); `role` is
    `active` (read at `name`), `retired` (rotated away, read to its end) or
    `done` (closed: never read again). `size` is the file's size when the
    position was taken and `read` the bytes read of it, the unfinished last
    line included (-1 if unknown): for status displays only.
    """

    name: str
    dev: int
    ino: int
    checksum: str
    offset: int
    role: str
    size: int = -1
    read: int = -1

    def to_json(self) -> list[object]:
        return [self.name, self.dev, self.ino, self.checksum, self.offset, self.role]

    @classmethod
    def from_json(cls, value: Sequence[object]) -> Position:
        name, dev, ino, checksum, offset, role = value
        if not (
            isinstance(name, str)
            and isinstance(dev, int)
            and isinstance(ino, int)
            and isinstance(checksum, str)
            and isinstance(offset, int)
            and role in ("active", "retired", "done")
        ):
            raise ValueError(f"not a position: {value!r}")
        return cls(name, dev, ino, checksum, offset, str(role))


def first_line_checksum(fd: int, offset: int) -> str:
    """The checksum of the first line of the open file `fd`, from the bytes
    before `offset` (at most CHECKSUM_BYTES of them); "" when `offset` is 0."""
    if offset <= 0:
        return ""
    head = os.pread(fd, min(offset, CHECKSUM_BYTES), 0)
    nl = head.find(b"\n")
    if nl >= 0:
        head = head[: nl + 1]
    return hashlib.blake2b(head, digest_size=16).hexdigest()
