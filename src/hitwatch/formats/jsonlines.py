"""JSON lines: one object a line, its fields found by a mapping (data, like a format string).

    --json-fields time=ts,status=status,path=request.uri,host=request.client_ip|request.remote_ip

A mapping names, for each record field, the dotted path of the JSON value
that holds it, with `|` between alternatives (the first present one
counts). Record fields: `time` and `status` (required), `host`, `method`,
`path` (the target: its section), `request` (a whole request line),
`bytes`, `vhost`, `duration` (seconds; `duration:ms`, `:us`, `:ns` for
other units) and `xff` (X-Forwarded-For, a string or a list: its first
address, with --forwarded-for). Times are epoch seconds, ms, µs or ns
(told apart by size; numbers or digits) or RFC 3339 strings.

msgspec decodes a whole block into small structs of just the mapped
values; a block where that fails (a line that is not JSON, a value of an
unexpected type) is read line by line, each line on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from hitwatch.formats.base import (
    OVERLONG,
    STATUS_CLASS,
    RequestCache,
    Text,
    TimeCache,
    is_method,
    section_of,
)
from hitwatch.formats.compiler import FormatError
from hitwatch.formats.describe import DURATION_UNITS
from hitwatch.formats.text import lines_block, sections_of
from hitwatch.formats.values import first_address, json_duration, parse_any_time
from hitwatch.model import OTHER, Block, FullRow, Row

if TYPE_CHECKING:
    import msgspec

KEYS = ("time", "status", "host", "method", "path", "request", "bytes", "vhost", "duration", "xff")
MAX_MAPPING = 4096

_STATUS: dict[object, str] = {**{int(s): s for s in STATUS_CLASS}, **{s: s for s in STATUS_CLASS}}


class Mapping(NamedTuple):
    """Record field -> alternatives, each a path of keys; and the duration's divisor."""

    paths: dict[str, tuple[tuple[str, ...], ...]]
    divisor: float = 1.0
    source: str = ""


def parse_mapping(text: str) -> Mapping:
    """`time=ts,status=status,...` -> a Mapping; FormatError when it cannot work."""
    if len(text) > MAX_MAPPING:
        raise FormatError(f"the JSON field mapping is longer than {MAX_MAPPING} characters")
    paths: dict[str, tuple[tuple[str, ...], ...]] = {}
    divisor = 1.0
    for entry in text.split(","):
        key, eq, value = entry.strip().partition("=")
        key, _, unit = key.strip().partition(":")
        if not eq or not value.strip():
            raise FormatError(f"expected FIELD=PATH, got {entry.strip()!r} in {text!r}")
        if key not in KEYS:
            raise FormatError(f"unknown field {key!r} in {text!r} (fields: {', '.join(KEYS)})")
        if unit and (key != "duration" or unit not in DURATION_UNITS):
            raise FormatError(f"{key}:{unit}: only duration takes a unit (s, ms, us, ns)")
        if key == "duration" and unit:
            divisor = DURATION_UNITS[unit]
        alternatives = tuple(tuple(p.strip().split(".")) for p in value.split("|"))
        if any("" in path for path in alternatives):
            raise FormatError(f"an empty key in the path {value!r} of {key}")
        paths[key] = alternatives
    for needed in ("time", "status"):
        if needed not in paths:
            raise FormatError(f"no {needed} field in the JSON field mapping {text!r}")
    _tree(paths)  # refuses a path that is both a value and an object
    return Mapping(paths, divisor, text)


def _tree(paths: dict[str, tuple[tuple[str, ...], ...]]) -> dict[str, Any]:
    """The mapped paths as nested dicts (None at a value); refuses a path that
    is both a value and an object."""
    tree: dict[str, Any] = {}
    for alternatives in paths.values():
        for path in alternatives:
            node = tree
            for key in path[:-1]:
                node = node.setdefault(key, {})
                if node is None:
                    raise FormatError(f"{'.'.join(path)}: {key} is a value and an object")
            if isinstance(node.get(path[-1]), dict):
                raise FormatError(f"{'.'.join(path)} is a value and an object")
            node[path[-1]] = None
    return tree


def _struct(paths: dict[str, tuple[tuple[str, ...], ...]]) -> type[msgspec.Struct]:
    """Nested structs holding just the mapped paths (any other key is skipped)."""
    import msgspec  # JSON formats only: a run on a text log does without it

    counter = iter(range(1 << 30))

    def build(node: dict[str, Any]) -> type[msgspec.Struct]:
        fields = []
        for key, sub in node.items():
            kind: Any = Any if sub is None else build(sub) | None
            fields.append((f"f{next(counter)}", kind, msgspec.field(default=None, name=key)))
        return msgspec.defstruct(f"S{next(counter)}", fields, gc=False)

    return build(_tree(paths))


def _python_names(
    paths: dict[str, tuple[tuple[str, ...], ...]], struct: Any
) -> dict[tuple[str, ...], str]:
    """Each path as the struct's dotted attribute names (for attrgetter)."""
    import msgspec

    out: dict[tuple[str, ...], str] = {}
    for alternatives in paths.values():
        for path in alternatives:
            node, names = struct, []
            for key in path:
                info = msgspec.structs.fields(node)
                found = next(f for f in info if f.encode_name == key)
                names.append(found.name)
                node = found.type.__args__[0] if hasattr(found.type, "__args__") else None
            out[path] = ".".join(names)
    return out


class JsonFormat:
    """Reads JSON lines with a Mapping; `xff` as for text formats."""

    def __init__(self, name: str, mapping: Mapping, xff: bool = False) -> None:
        import msgspec

        self.name = name
        self.mapping = mapping
        paths = mapping.paths
        self.xff = xff and "xff" in paths
        struct = _struct(paths)
        self._decoder = msgspec.json.Decoder(struct)
        self._decode_any = msgspec.json.decode
        self._not_json = msgspec.DecodeError
        self._not_struct = (msgspec.DecodeError, msgspec.ValidationError)
        names = _python_names(paths, struct)
        self._get = {
            key: [attrgetter(names[path]) for path in alternatives]
            for key, alternatives in paths.items()
        }
        self.with_vhost = "vhost" in paths
        self.with_duration = "duration" in paths
        self._times = TimeCache(parse_any_time)
        self._requests = RequestCache()
        self._sections: dict[str, str] = {}
        self._methods = Memo(lambda m: m if isinstance(m, str) and is_method(m) else OTHER)
        self._targets = Memo(lambda p: self._section(p) if isinstance(p, str) else OTHER)

    # ------------------------------------------------------------- a line

    def parse_full(self, line: str) -> FullRow | str:
        if line is OVERLONG:
            return "line longer than 64 KiB"
        try:
            obj = self._decode_any(line)
        except self._not_json:
            return "not a JSON line"
        if not isinstance(obj, dict):
            return "not a JSON object"
        got = {key: _lookup(obj, alternatives) for key, alternatives in self.mapping.paths.items()}
        return self._row(got)

    def parse_line(self, line: str) -> Row | str:
        row = self.parse_full(line)
        return row if isinstance(row, str) else row[:6]

    def _row(self, got: dict[str, object]) -> FullRow | str:
        time = got["time"]
        if time is None:
            return "no time"
        ts = self._times[time] if isinstance(time, str) else parse_any_time(time)
        if ts < 0:
            return "bad timestamp"
        status = _STATUS.get(got["status"]) if _hashable(got["status"]) else None
        if status is None or isinstance(got["status"], bool):
            return "bad status"
        nbytes = _bytes(got.get("bytes"))
        if nbytes < 0:
            return "bad bytes"
        request = got.get("request")
        if isinstance(request, str):
            method, section = self._requests[request]
        else:
            method = _text(got.get("method"), OTHER)
            method = method if is_method(method) else OTHER
            path = got.get("path")
            section = self._section(path) if isinstance(path, str) else OTHER
        host = _text(got.get("host"), "-")
        if self.xff:
            host = _first(got.get("xff")) or host
        vhost = _text(got.get("vhost"), "")
        duration = json_duration(got.get("duration"), self.mapping.divisor)
        return (ts, nbytes, section, host, status, method, vhost, duration)

    def _section(self, target: str) -> str:
        got = self._sections.get(target)
        if got is None:
            if len(self._sections) > 100_000:
                self._sections.clear()
            got = self._sections[target] = section_of(target)
        return got

    # ------------------------------------------------------------ a block

    def parse(self, text: Text) -> Block:
        try:
            rows = self._decoder.decode_lines(text.text)
        except self._not_struct:
            return lines_block(self, text)
        if len(rows) != text.count:  # empty lines (decode_lines skips them)
            return lines_block(self, text)
        try:
            block = self._columns(rows, text.count)
        except (AttributeError, TypeError):  # an object missing on a path
            block = None
        return block if block is not None else lines_block(self, text)

    def _column(self, key: str, rows: list[Any]) -> list[Any] | None:
        getters = self._get.get(key)
        if getters is None:
            return None
        col = list(map(getters[0], rows))
        for getter in getters[1:]:
            if None in col:
                col = [
                    a if a is not None else b for a, b in zip(col, map(getter, rows), strict=True)
                ]
        return col

    def _columns(self, rows: list[Any], count: int) -> Block | None:
        got = {key: self._column(key, rows) for key in self._get}
        times = got["time"]
        assert times is not None
        types = set(map(type, times))
        if types <= {int, float} and min(times) >= 0 and max(times) < 1e11:
            ts = list(map(int, times))
        elif types == {str}:
            ts = list(map(self._times.__getitem__, times))
        else:
            ts = list(map(parse_any_time, times))
        statuses = list(map(_STATUS.get, got["status"] or ()))
        if -1 in ts or None in statuses or bool in set(map(type, got["status"] or ())):
            return None
        nbytes = got["bytes"]
        if nbytes is None:
            nbytes = [0] * count
        elif not set(map(type, nbytes)) <= {int} or min(nbytes) < 0 or max(nbytes) >= 10**15:
            nbytes = list(map(_bytes, nbytes))
            if -1 in nbytes:
                return None
        methods, sections = self._requests_of(got, count)
        hosts = _texts(got["host"], "-", count)
        if self.xff:
            hosts = [_first(x) or h for x, h in zip(got["xff"] or (), hosts, strict=True)]
        block = Block.of(ts, nbytes, sections, hosts, statuses, methods, count)  # type: ignore[arg-type]
        if self.with_vhost:
            block.vhosts = _texts(got["vhost"], "", count)
        if self.with_duration:
            block.durations = _durations(got["duration"] or [], self.mapping.divisor)
        return block

    def _requests_of(
        self, got: dict[str, list[Any] | None], count: int
    ) -> tuple[Sequence[str], Sequence[str]]:
        requests = got.get("request")
        if requests is not None and set(map(type, requests)) == {str}:
            parts = list(map(self._requests.__getitem__, requests))
            return [p[0] for p in parts], [p[1] for p in parts]
        given = got.get("method")
        methods = [OTHER] * count if given is None else list(map(self._methods.__getitem__, given))
        paths = got.get("path")
        if paths is None:
            return methods, [OTHER] * count
        if set(map(type, paths)) == {str}:
            return methods, sections_of(paths, self._section)
        return methods, list(map(self._targets.__getitem__, paths))


class Memo(dict[object, str]):
    """A bounded memo of one conversion (values repeat: methods, targets)."""

    def __init__(self, convert: Callable[[object], str]) -> None:
        super().__init__()
        self._convert = convert

    def __missing__(self, key: object) -> str:
        if len(self) >= 100_000:
            self.clear()
        value = self[key] = self._convert(key)
        return value


def _texts(col: list[Any] | None, default: str, count: int) -> list[str]:
    """A column of strings (anything else: `default`)."""
    if col is None:
        return [default] * count
    if set(map(type, col)) == {str}:
        return col
    return [v if isinstance(v, str) else default for v in col]


def _durations(col: list[Any], divisor: float) -> list[float | None]:
    types = set(map(type, col))
    if col and types <= {int, float} and min(col) >= 0 and max(col) < 1e18:
        if divisor == 1.0 and types == {float}:
            return col
        return [float(d) / divisor for d in col]
    return [json_duration(d, divisor) for d in col]


def _lookup(obj: dict[str, Any], alternatives: tuple[tuple[str, ...], ...]) -> object:
    for path in alternatives:
        node: object = obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def _hashable(value: object) -> bool:
    return isinstance(value, int | str | float)


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) else default


def _bytes(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 10**15 else -1
    if isinstance(value, str):
        if value == "-":
            return 0
        if 0 < len(value) <= 15 and value.isascii() and value.isdigit():
            return int(value)
    return -1


def _first(value: object) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return first_address(value) if isinstance(value, str) else None
