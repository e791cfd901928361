"""Format strings into descriptions (`formats.describe`): nginx, Apache, hitwatch.

    compile_format('$remote_addr - $remote_user [$time_local] "$request" $status ...')
    compile_format('%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D')
    compile_notation('{vhost:port} {host} {skip} {skip} [{time}] "{request}" ...')

nginx: `$var` and `${var}`; the variables hitwatch reads are listed in
`NGINX`, any other is read and skipped. Apache: the directives of `APACHE`,
with `<`/`>` and `{...}` where Apache has them; any other is refused. The
string may be pasted as written in the server's configuration: `log_format
NAME '...' '...';` and `LogFormat "..." NAME` are unwrapped.

A format that cannot work raises `FormatError`, whose message is one line
that points at the offending part: no time or status field, an unknown
directive, two fields with nothing between them that cannot be told apart.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from hitwatch.formats.describe import (
    BYTES,
    CLF_TIME,
    CLOCK,
    DATE,
    DURATION,
    DURATION_UNITS,
    FIELD,
    FIELD_NAMES,
    HOST,
    LITERAL,
    METHOD,
    QUOTED,
    REQUEST,
    SKIP,
    STATUS,
    TARGET,
    TIME,
    TIME_WORDS,
    VHOST,
    XFF,
    Description,
    Item,
    width,
)
from hitwatch.formats.values import strftime_problem

MAX_FORMAT = 4096
"""Characters; a longer format string is refused."""


class FormatError(ValueError):
    """A format string that cannot work; str() is one line for the operator."""


class Token(NamedTuple):
    """A field as found in the format string, before the description is made."""

    field: int
    arg: str
    start: int  # where it is in the source
    end: int
    role: str = ""  # "query" (merges into a TARGET before it), "upstream"


Part = str | Token

NGINX: dict[str, tuple[int, str, str]] = {
    "remote_addr": (HOST, "", ""),
    "time_local": (TIME, CLF_TIME, ""),
    "time_iso8601": (TIME, "iso8601", ""),
    "msec": (TIME, "sec", ""),
    "request": (REQUEST, "", ""),
    "request_method": (METHOD, "", ""),
    "request_uri": (TARGET, "", ""),
    "uri": (TARGET, "", ""),
    "document_uri": (TARGET, "", ""),
    "is_args": (SKIP, "", "query"),
    "args": (SKIP, "", "query"),
    "query_string": (SKIP, "", "query"),
    "status": (STATUS, "", ""),
    "body_bytes_sent": (BYTES, "", ""),
    "bytes_sent": (BYTES, "", ""),
    "request_time": (DURATION, "s", ""),
    "upstream_response_time": (DURATION, "s", "upstream"),
    "host": (VHOST, "", ""),
    "http_host": (VHOST, "", ""),
    "server_name": (VHOST, "", ""),
    "http_x_forwarded_for": (XFF, "", ""),
}
"""nginx variables hitwatch reads: (field, argument, role). Any other is skipped."""

APACHE: dict[str, tuple[int, str, str]] = {
    "h": (HOST, "", ""),
    "a": (HOST, "", ""),
    "l": (SKIP, "", ""),
    "u": (SKIP, "", ""),
    "t": (TIME, CLF_TIME, ""),
    "r": (REQUEST, "", ""),
    "m": (METHOD, "", ""),
    "U": (TARGET, "", ""),
    "q": (SKIP, "", "query"),
    "H": (SKIP, "", ""),
    "s": (STATUS, "", ""),
    "b": (BYTES, "", ""),
    "B": (BYTES, "", ""),
    "O": (BYTES, "", ""),
    "I": (SKIP, "", ""),
    "D": (DURATION, "us", ""),
    "T": (DURATION, "s", ""),
    "v": (VHOST, "", ""),
    "V": (VHOST, "", ""),
    "p": (SKIP, "", ""),
    "i": (SKIP, "", ""),
}
"""Apache directives hitwatch knows (`%{...}i` headers: see `_apache_header`)."""

_NGINX_NAME = re.compile(r"[A-Za-z0-9_]+")


def compile_format(text: str) -> Description:
    """A description of an nginx or Apache format string (nginx when it holds a `$var`)."""
    if len(text) > MAX_FORMAT:
        raise FormatError(f"the format is longer than {MAX_FORMAT} characters")
    source = text
    if re.search(r"\$[A-Za-z_{]", text):
        text = _unwrap_nginx(text)
        return finish(_nginx_parts(text), text, source)
    text = _unwrap_apache(text)
    return finish(_apache_parts(text), text, source)


def compile_notation(text: str) -> Description:
    """A description in hitwatch's notation: `{field}` or `{field:argument}`,
    `{{` and `}}` for braces (presets are written in it)."""
    parts: list[Part] = []
    i = 0
    while i < len(text):
        if text.startswith("{{", i) or text.startswith("}}", i):
            parts.append(text[i])
            i += 2
            continue
        if text[i] == "}":
            raise FormatError(_at(text, i, i + 1, "a } that closes nothing"))
        if text[i] != "{":
            parts.append(text[i])
            i += 1
            continue
        end = text.find("}", i)
        if end < 0:
            raise FormatError(_at(text, i, len(text), "a { that is not closed"))
        name, _, arg = text[i + 1 : end].partition(":")
        if name not in FIELD_NAMES:
            raise FormatError(_at(text, i, end + 1, f"unknown field {name!r}"))
        field = FIELD_NAMES[name]
        arg = CLF_TIME if field == TIME and not arg else arg
        parts.append(_checked(Token(field, arg, i, end + 1), text))
        i = end + 1
    return finish(parts, text, text)


def _checked(token: Token, text: str) -> Token:
    """The token, when its argument suits its field."""
    field, arg = token.field, token.arg
    problem = None
    if field == TIME and arg not in TIME_WORDS and arg:
        problem = strftime_problem(arg)
    elif field == DURATION and arg not in DURATION_UNITS:
        problem = f"a duration's unit is s, ms, us or ns, not {arg!r}"
    elif field in (HOST, VHOST) and arg not in ("", "port"):
        problem = f"the only argument of a host is 'port', not {arg!r}"
    elif field not in (TIME, DURATION, HOST, VHOST) and arg:
        problem = f"this field takes no argument ({arg!r})"
    if problem:
        raise FormatError(_at(text, token.start, token.end, problem))
    return token


# ------------------------------------------------------------------ nginx


def _unwrap_nginx(text: str) -> str:
    """`log_format main escape=json '...' '...';` as in nginx.conf -> the format."""
    body = text.strip()
    m = re.match(r"log_format\s+\S+\s+(?:escape=\S+\s+)?", body)
    if m:
        body = body[m.end() :]
    body = body.removesuffix(";").strip()
    if body[:1] in ("'", '"'):
        pieces = re.fullmatch(r"""(?:\s*(?:'[^']*'|"[^"]*"))+\s*""", body)
        if pieces:
            return "".join(q[1:-1] for q in re.findall(r"""'[^']*'|"[^"]*\"""", body))
    return text


def _nginx_parts(text: str) -> list[Part]:
    parts: list[Part] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            parts.append(text[i])
            i += 1
            continue
        if text.startswith("${", i):
            end = text.find("}", i)
            name = text[i + 2 : end] if end > 0 else ""
            stop = end + 1 if end > 0 else len(text)
        else:
            m = _NGINX_NAME.match(text, i + 1)
            name = m.group() if m else ""
            stop = m.end() if m else i + 1
        if not name or _NGINX_NAME.fullmatch(name) is None:
            raise FormatError(_at(text, i, max(stop, i + 1), "a $ with no variable name"))
        field, arg, role = NGINX.get(name, (SKIP, "", ""))
        parts.append(Token(field, arg, i, stop, role))
        i = stop
    return parts


# ----------------------------------------------------------------- Apache


def _unwrap_apache(text: str) -> str:
    """`LogFormat "..." nickname` as in httpd.conf -> the format; `\\"` -> `"`."""
    body = text.strip()
    m = re.fullmatch(r'(?:LogFormat|CustomLog\s+\S+)\s+"((?:[^"\\]|\\.)*)"(?:\s+\S+)?', body)
    if m:
        text = m.group(1)
    return text.replace('\\"', '"').replace("\\t", "\t")


_APACHE = re.compile(r"%([<>]?)(?:\{([^}]*)\})?([<>]?)([A-Za-z%]?)")


def _apache_parts(text: str) -> list[Part]:
    parts: list[Part] = []
    i = 0
    while i < len(text):
        if text[i] != "%":
            parts.append(text[i])
            i += 1
            continue
        m = _APACHE.match(text, i)
        assert m is not None  # every group may be empty
        _, arg, _, letter = m.groups()
        stop = m.end()
        if letter == "%" and arg is None:
            parts.append("%")
        elif letter not in APACHE:
            what = f"unknown directive %{letter}" if letter else "a % with no directive"
            raise FormatError(_at(text, i, max(stop, i + 1), what))
        else:
            token = _apache_token(letter, arg, i, stop, text)
            if token.field == TIME and token.arg == CLF_TIME:
                parts += ["[", token, "]"]  # %t writes its brackets
            else:
                parts.append(token)
        i = stop
    return parts


def _apache_token(letter: str, arg: str | None, start: int, stop: int, text: str) -> Token:
    field, default, role = APACHE[letter]
    if arg is None:
        return Token(field, default, start, stop, role)
    if letter == "t":
        layout = arg.removeprefix("begin:").removeprefix("end:")
        if layout in ("msec_frac", "usec_frac"):
            return Token(SKIP, "", start, stop)
        return _checked(Token(TIME, layout or CLF_TIME, start, stop), text)
    if letter == "T":
        return _checked(Token(DURATION, arg or "s", start, stop), text)
    if letter == "i":
        return Token(_apache_header(arg), "", start, stop)
    if letter in "ahp":  # %{c}a, %{c}h, %{canonical}p...
        return Token(field, "", start, stop)
    raise FormatError(_at(text, start, stop, f"%{letter} takes no {{...}}"))


def _apache_header(name: str) -> int:
    lower = name.lower()
    return XFF if lower == "x-forwarded-for" else VHOST if lower == "host" else SKIP


# ------------------------------------------------------------- the description


def finish(parts: list[Part], text: str, source: str) -> Description:
    """Literals joined, quoted fields marked, fields checked: the description."""
    tokens = _merge_queries(parts)
    items: list[Item] = []
    spans: list[tuple[int, int]] = []
    seen: set[int] = set()
    has_time = any(isinstance(t, Token) and t.field == TIME for t in tokens)
    has_duration = any(
        isinstance(t, Token) and t.field == DURATION and t.role != "upstream" for t in tokens
    )
    literal = ""
    for part in tokens:
        if isinstance(part, str):
            literal += part
            continue
        if literal:
            items.append(Item(LITERAL, SKIP, literal))
            spans.append((-1, -1))
            literal = ""
        field, arg = part.field, part.arg
        if (
            (field in seen and field not in (SKIP, DURATION))
            or (field in (DATE, CLOCK) and has_time)
            or (part.role == "upstream" and has_duration)
        ):
            field, arg = SKIP, ""
        seen.add(field)
        items.append(Item(FIELD, field, arg))
        spans.append((part.start, part.end))
    if literal:
        items.append(Item(LITERAL, SKIP, literal))
        spans.append((-1, -1))
    items = _quote(items, spans)
    _check(items, spans, text)
    return Description(tuple(items), source)


def _merge_queries(parts: list[Part]) -> list[Part]:
    """`%U%q`, `$uri$is_args$args`: the query belongs to the target before it."""
    out: list[Part] = []
    for part in parts:
        prev = out[-1] if out else None
        if (
            isinstance(part, Token)
            and part.role == "query"
            and isinstance(prev, Token)
            and (prev.field == TARGET or prev.role == "query")
        ):
            out[-1] = prev._replace(end=part.end)
            continue
        out.append(part)
    return out


def _quote(items: list[Item], spans: list[tuple[int, int]]) -> list[Item]:
    """A field between a literal ending in `"` and one starting with `"` is QUOTED,
    unless that literal is the quote alone after a field of no width: the two
    fields could not be told apart, so the quotes stay literals and the field
    before runs to the opening one (`{skip}"{request}"`, GoAccess's `%^"%r"`)."""
    out = list(items)
    for i in range(1, len(out) - 1):
        before, item, after = out[i - 1], out[i], out[i + 1]
        if (
            item.kind == FIELD
            and before.kind == LITERAL
            and after.kind == LITERAL
            and before.text.endswith('"')
            and after.text.startswith('"')
            and not (
                before.text == '"'
                and i >= 2
                and out[i - 2].kind != LITERAL
                and not width(out[i - 2])
            )
        ):
            out[i - 1] = before._replace(text=before.text[:-1])
            out[i] = item._replace(kind=QUOTED)
            out[i + 1] = after._replace(text=after.text[1:])
    keep = [i for i, item in enumerate(out) if item.kind != LITERAL or item.text]
    spans[:] = [spans[i] for i in keep]
    return [out[i] for i in keep]


def _check(items: list[Item], spans: list[tuple[int, int]], text: str) -> None:
    fields = {item.field for item in items if item.kind != LITERAL}
    if TIME not in fields and not {DATE, CLOCK} <= fields:
        raise FormatError(f"no time field in the format: {_one_line(text)}")
    if STATUS not in fields:
        raise FormatError(f"no status field in the format: {_one_line(text)}")
    for i in range(len(items) - 1):
        a, b = items[i], items[i + 1]
        if a.kind != LITERAL and b.kind != LITERAL and not width(a):
            start, end = spans[i][0], spans[i + 1][1]
            problem = "two fields with nothing between them cannot be told apart"
            raise FormatError(_at(text, start, end, problem))


def _at(text: str, start: int, end: int, problem: str) -> str:
    """One line: the problem, and the format with the offending part marked."""
    if start < 0:
        return f"{problem}: {_one_line(text)}"
    marked = f"{_one_line(text[:start])}>>>{_one_line(text[start:end])}<<<"
    return f"{problem}: {marked}{_one_line(text[end:])}"


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
