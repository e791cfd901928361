"""The generator's vcombined + %D and Caddy JSON carry the same records as its Combined."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitwatch import formats, generate
from hitwatch.formats.base import decode_lines

VCOMBINED_D = '%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D'


def records(path: Path, name: str) -> tuple[list[tuple[object, ...]], object]:
    block = formats.make(name).parse(decode_lines(path.read_bytes()))
    assert not block.invalid
    return block.rows, block


@pytest.mark.parametrize("site", [[], ["--hosts", "300", "--sections", "20", "--paths", "30"]])
def test_same_records_in_every_format(tmp_path: Path, site: list[str]) -> None:
    paths = {}
    for fmt in ("combined", "vcombined", "caddy"):
        paths[fmt] = tmp_path / f"{fmt}.log"
        argv = ["--format", fmt, "--minutes", "2", *site, "-o", str(paths[fmt])]
        assert generate.main(argv) == 0
    combined, _ = records(paths["combined"], "combined")
    vcombined, vblock = records(paths["vcombined"], formats.resolve(log_format=VCOMBINED_D))
    caddy, cblock = records(paths["caddy"], "caddy")
    assert combined == vcombined == caddy and len(combined) > 500
    assert vblock.vhosts == cblock.vhosts and set(vblock.vhosts) <= set(generate.formatting.VHOSTS)
    assert vblock.durations == cblock.durations  # type: ignore[attr-defined]
    assert all(d is not None and d > 0 for d in vblock.durations)  # type: ignore[attr-defined]
