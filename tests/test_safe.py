"""sinks.base.safe: its shortcut for printable ASCII changes no output."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hitwatch.render import _ESCAPES, safe


def test_every_ascii_character() -> None:
    for c in map(chr, range(128)):
        assert safe(c) == c.translate(_ESCAPES)
        assert safe(f"a{c}b") == f"a{c}b".translate(_ESCAPES)


@given(st.text(st.characters(exclude_categories=())) | st.text(st.characters(max_codepoint=127)))
def test_same_as_translate(text: str) -> None:
    assert safe(text) == text.translate(_ESCAPES)
