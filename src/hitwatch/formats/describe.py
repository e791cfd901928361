"""A text format as data: a flat list of items, read by one parser.

Every format string (nginx `log_format`, Apache `LogFormat`, hitwatch's own
notation for presets, a W3C `#Fields:` line) compiles to a `Description`:
a tuple of `Item(kind, field, text)`. The Python parser (`formats.text`)
reads it; the C kernel is meant to read the very same list (the `text` of
an item as UTF-8 bytes). This docstring is the contract for both.

Items
-----
kind    LITERAL (0): `text` must appear in the line right here.
        FIELD (1): a value; `field` says what it is, `text` is its argument.
        QUOTED (2): a FIELD that the format writes between double quotes
        (the quotes are not in the neighbouring literals).
field   one of the field codes below (SKIP for literals).
text    LITERAL: the bytes to match. FIELD/QUOTED: the argument (a time
        layout, a duration unit, `port`), or empty.

Matching a line (nothing after the last item matters: trailing fields are
ignored, as SPEC §1 says of Combined). `p` starts at 0; for each item:

- LITERAL: the line must hold `text` at `p`; `p` moves past it. Else no match.
- QUOTED, when the byte at `p` is `"`: the value runs to the next `"` that
  is not escaped (a backslash escapes the byte after it, which stays in the
  value as written); `p` moves past that closing quote. No closing quote: no
  match. Otherwise a QUOTED item is read as a FIELD (a bare `-`, say).
- FIELD followed by a LITERAL: the value runs from `p` to the first
  occurrence of that literal at or after `p` (no occurrence: no match).
  A TIME whose strftime layout holds that literal n times (`%d/%b/%Y %T`
  before a space: once) runs to its (n+1)-th occurrence instead, each
  searched for after the end of the one before (`repeats`).
- FIELD followed by another field: the value is the next `width` bytes,
  where only STATUS (3) and TIME with the CLF layout (26) have a width; the
  compiler refuses any other pair.
- FIELD as the last item: the value runs to the first space, or the end.

Then each value is converted (`formats.values`); a TIME, STATUS or BYTES
value that does not convert makes the line invalid. A description holds
each field code at most once (the compiler turns later ones into SKIP),
except SKIP and DURATION: several durations add up (seconds, in item
order), and the line has no duration when any of them is absent.

Field codes (stable numbers: the C side uses them)
--------------------------------------------------
SKIP 0      read and ignored.
HOST 1      the client address. Argument `port`: a trailing `:port` is
            dropped (and `[...]` around an IPv6 address).
TIME 2      the request time; argument: a layout. `iso8601` (RFC 3339,
            optional fraction, `Z`, `+hh:mm`, `+hhmm` or no zone: UTC;
            `T` or a space between date and time), `sec` (epoch seconds,
            optional fraction), `msec`, `usec` (whole epoch ms, µs), or a
            strftime pattern of %d %e %m %b %Y %H %M %S %T %F %z %f %a %%
            (%f: 1-9 digits of a fraction, ignored; %z: +hhmm, +hh:mm or Z;
            no %z: UTC). Empty means the CLF layout `%d/%b/%Y:%H:%M:%S %z`.
REQUEST 3   a request line `GET /a HTTP/1.1`: the method and the section.
METHOD 4    the method alone.
TARGET 5    the request target alone (path, maybe with its query): the section.
STATUS 6    three digits, 100-599.
BYTES 7     response bytes: digits (at most 15), or `-` for 0.
VHOST 8     the virtual host as written. Argument `port`: as for HOST.
DURATION 9  the time taken; argument: the unit, `s`, `ms`, `us` or `ns`.
            Digits with an optional fraction (at most 18 each side);
            seconds = value / 1, 1e3, 1e6 or 1e9 (one IEEE division).
            Anything else (`-`, `-1`, a list): no duration, still a record.
XFF 10      X-Forwarded-For: with --forwarded-for, its first address (before
            any comma, spaces stripped) replaces HOST, unless it is `-` or empty.
DATE 11     W3C date `yyyy-mm-dd` (UTC); with CLOCK it makes the time.
CLOCK 12    W3C time of day `hh:mm:ss`, optional fraction.
"""

from __future__ import annotations

from typing import NamedTuple

LITERAL, FIELD, QUOTED = 0, 1, 2

SKIP, HOST, TIME, REQUEST, METHOD, TARGET, STATUS, BYTES = 0, 1, 2, 3, 4, 5, 6, 7
VHOST, DURATION, XFF, DATE, CLOCK = 8, 9, 10, 11, 12

FIELD_NAMES = {
    "skip": SKIP,
    "host": HOST,
    "time": TIME,
    "request": REQUEST,
    "method": METHOD,
    "target": TARGET,
    "status": STATUS,
    "bytes": BYTES,
    "vhost": VHOST,
    "duration": DURATION,
    "xff": XFF,
    "date": DATE,
    "clock": CLOCK,
}
NAME_OF = {code: name for name, code in FIELD_NAMES.items()}

CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
DURATION_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
TIME_WORDS = ("iso8601", "sec", "msec", "usec")


class Item(NamedTuple):
    kind: int
    field: int = SKIP
    text: str = ""


class Description(NamedTuple):
    """A compiled text format: its items, and the format as it was written."""

    items: tuple[Item, ...]
    source: str = ""
    prefer_bare: bool = False  # QUOTED values are usually bare (W3C): a hint for fast paths

    def fields(self) -> list[int]:
        """The field codes that count (the first of each; every DURATION)."""
        return [item.field for item in self.items if item.kind != LITERAL]

    def has(self, field: int) -> bool:
        return any(item.kind != LITERAL and item.field == field for item in self.items)

    def notation(self) -> str:
        """The description in hitwatch's notation (`formats.compile`): `{field:arg}`,
        `"{field}"` for QUOTED, literal braces doubled."""
        out = []
        for kind, field, text in self.items:
            if kind == LITERAL:
                out.append(text.replace("{", "{{").replace("}", "}}"))
                continue
            arg = "" if field == TIME and text == CLF_TIME else text
            body = NAME_OF[field] + (f":{arg}" if arg else "")
            out.append(f'"{{{body}}}"' if kind == QUOTED else f"{{{body}}}")
        return "".join(out)

    def as_data(self) -> list[tuple[int, int, bytes]]:
        """The flat (kind, field, text bytes) list the C side reads."""
        return [(kind, field, text.encode()) for kind, field, text in self.items]


def width(item: Item) -> int:
    """The fixed width of a field's value, 0 when it has none."""
    if item.field == STATUS:
        return 3
    if item.field == TIME and item.text in ("", CLF_TIME):
        return 26
    return 0


def repeats(item: Item, literal: str) -> int:
    """How often a TIME item's strftime layout (%T, %F, %D spelled out) holds
    `literal`: occurrences its value holds before the one that ends it."""
    if item.field != TIME or "%" not in item.text or not literal:
        return 0
    layout = item.text.replace("%T", "%H:%M:%S").replace("%F", "%Y-%m-%d")
    return layout.replace("%D", "%m/%d/%y").count(literal)
