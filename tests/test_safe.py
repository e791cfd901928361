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


@given(st.lists(st.tuples(st.text(), st.integers(min_value=0)), max_size=5))
def test_a_listed_line_escapes_each_name(items: list[tuple[str, int]]) -> None:
    # The text output escapes a joined line once: the same as each name alone.
    from hitwatch.outputs.text import _ranked

    expected = ", ".join(f"{safe(name)} {hits}" for name, hits in items) or "-"
    assert _ranked(tuple(items)) == expected
