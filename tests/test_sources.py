"""Reading sources: byte-order marks and where auto-detection looks."""

from __future__ import annotations

import pytest

from conftest import csv_log, run_bytes

CLF = b'10.0.0.1 - - [07/Feb/2019:21:11:00 +0000] "GET /api/user HTTP/1.0" 200 12\n'


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
def test_a_utf8_bom_before_the_csv_header_is_dropped(chunk: int | None) -> None:
    data = b"\xef\xbb\xbf" + csv_log(100, 101, 102)
    result = run_bytes(data, chunks=None if chunk is None else [chunk])
    summary = result.summary
    assert summary["headers"] == 1
    assert summary["invalid"] == 0
    assert summary["records"] == 3
    assert summary["lines"] == 4


def test_a_bom_alone_is_no_line() -> None:
    assert run_bytes(b"\xef\xbb\xbf").summary["lines"] == 0


def test_detection_looks_past_many_leading_blank_lines() -> None:
    data = b"\n" * 150 + CLF * 30
    result = run_bytes(data)
    assert result.summary["records"] == 30
    assert result.summary["invalid"] == 0
    assert result.summary["empty"] == 150
    assert any("detected format clf" in note for note in result.notes)


@pytest.mark.parametrize("chunk", [None, 50, 7])
def test_detection_past_the_scan_does_not_depend_on_block_sizes(chunk: int | None) -> None:
    data = b"\n" * 1001 + CLF * 30
    result = run_bytes(data, chunks=None if chunk is None else [chunk])
    # Nothing to detect in the first 1000 lines: CSV is assumed, whatever the cutting.
    assert result.summary["invalid"] == 30
    assert any("assuming format csv" in note for note in result.notes)


@pytest.mark.parametrize("chunk", [None, 1000, 3])
def test_a_line_of_max_length_plus_cr_and_more_is_overlong_however_cut(
    chunk: int | None,
) -> None:
    line = b'"h","-","-",100,"GET /' + b"a" * (65536 - 30)
    line = line[:65536]
    data = csv_log(100) + line + b"\rtail"
    result = run_bytes(data, chunks=None if chunk is None else [chunk])
    assert result.summary["invalid"] == 1
