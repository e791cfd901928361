"""`--config FILE`: alert rules from TOML (SPEC §9), checked key by key.

Every mistake is one `ConfigError` line for the operator: the file, the line
where one can be found, the rule, the key and what is wrong. Numbers are read
as the decimals written (TOML floats as `Decimal`, then exact fractions), so
a threshold of 0.1 is one tenth. Limits keep a hostile or mistaken file from
costing unbounded time or memory.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hitwatch.config import DIMENSIONS, RuleSpec, parse_duration
from hitwatch.rules import KINDS

MAX_RULES = 256
MAX_GROUPS = 10_000
MAX_WINDOW = 86_400
MAX_VALUES = 1_000
"""Values a `match` key may list."""
MAX_BYTES = 1 << 20
"""A config file larger than this is refused before it is parsed."""

_NAME = re.compile(r"[a-z0-9_]{1,64}")
_STATUS = re.compile(r"[1-5]xx|[1-5][0-9][0-9]")
_KEYS = {"name", "kind", "window", "threshold", "for", "match", "group_by", "max_groups"}
_KIND_KEYS = {"errors", "min_hits", "quantile"}


class ConfigError(ValueError):
    """A config file hitwatch cannot use; str() is the line for the operator."""


def load(path: str) -> tuple[RuleSpec, ...]:
    """The rules of the config file at `path`."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES >> 20} MiB; not a config file")
    return parse(data, path)


def parse(data: bytes, path: str = "<config>") -> tuple[RuleSpec, ...]:
    """The rules of a config file's bytes; `path` names it in errors."""
    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text, parse_float=Decimal)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    where = _Where(path, text)
    unknown = sorted(set(doc) - {"rules"})
    if unknown:
        raise ConfigError(f"{where.at(unknown[0])}: unknown key {unknown[0]!r} (known: rules)")
    tables = doc.get("rules", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where.at('rules')}: rules must be [[rules]] tables")
    if len(tables) > MAX_RULES:
        raise ConfigError(f"{path}: {len(tables)} rules; at most {MAX_RULES} are allowed")
    specs: list[RuleSpec] = []
    names: set[str] = set()
    for index, table in enumerate(tables):
        spec = _rule(table, index, where)
        if spec.name in names:
            raise ConfigError(f"{where.at('name', index)}: rule {spec.name}: duplicate name")
        names.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def _rule(table: dict[str, Any], index: int, where: _Where) -> RuleSpec:
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        label = f"rule #{index + 1}"
        if name is None:
            raise ConfigError(f"{where.at(None, index)}: {label}: missing key 'name'")
        raise ConfigError(
            f"{where.at('name', index)}: {label}: name must be 1-64 of a-z, 0-9 and _, got {name!r}"
        )

    def fail(key: str | None, message: str) -> ConfigError:
        return ConfigError(f"{where.at(key, index)}: rule {name}: {message}")

    kind = table.get("kind")
    if kind is None:
        raise fail(None, "missing key 'kind'")
    if kind not in KINDS:
        raise fail("kind", f"kind: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    own = KINDS[kind].keys
    allowed = _KEYS | own
    for key in table:
        if key not in allowed:
            if key in _KIND_KEYS:
                takers = sorted(k for k, v in KINDS.items() if key in v.keys)
                raise fail(key, f"{key}: only for {' and '.join(takers)}, not {kind}")
            raise fail(key, f"unknown key {key!r} (known: {', '.join(sorted(allowed))})")
    if "threshold" not in table:
        raise fail(None, "missing key 'threshold'")

    window = _seconds(table.get("window", 120), "window", fail, low=1)
    threshold = _decimal(table["threshold"], fail)
    if kind == "error_ratio_above" and threshold > 1:
        raise fail("threshold", f"threshold: a ratio from 0 to 1 for {kind}, got {threshold}")
    hold = _seconds(table.get("for", 0), "for", fail, low=0)
    match = _match(table.get("match", {}), fail)
    group_by = table.get("group_by")
    if group_by is not None and group_by not in DIMENSIONS:
        raise fail(
            "group_by", f"group_by: unknown field {group_by!r} (known: {', '.join(DIMENSIONS)})"
        )
    max_groups = _int(table.get("max_groups", 100), "max_groups", fail, 1, MAX_GROUPS)
    errors: tuple[str, ...] = ("5xx",)
    if "errors" in own:
        errors = _statuses(table.get("errors", ["5xx"]), "errors", fail)
    min_hits = _int(table.get("min_hits", 20), "min_hits", fail, 0, 1 << 62)
    quantile = Fraction(95, 100)
    if "quantile" in own:
        quantile = _decimal(table.get("quantile", Decimal("0.95")), fail, "quantile")
        if not 0 < quantile <= 1:
            raise fail("quantile", f"quantile: must be above 0 and at most 1, got {quantile}")
    return RuleSpec(
        name, kind, window, threshold, hold, match, group_by, max_groups, errors, min_hits,
        quantile,
    )  # fmt: skip


Fail = Any  # (key, message) -> ConfigError


def _seconds(value: object, key: str, fail: Fail, *, low: int) -> int:
    if isinstance(value, bool):
        raise fail(key, f"{key}: expected seconds, got {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise fail(key, f"{key}: {exc}") from None
    else:
        raise fail(key, f'{key}: expected seconds such as 120 or "2m", got {value!r}')
    if not low <= seconds <= MAX_WINDOW:
        raise fail(key, f"{key}: must be from {low} to {MAX_WINDOW} seconds (a day), got {value!r}")
    return seconds


def _decimal(value: object, fail: Fail, key: str = "threshold") -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise fail(key, f"{key}: expected a number, got {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise fail(key, f"{key}: expected a finite number, got {value}")
    number = Fraction(value)
    if number < 0:
        raise fail(key, f"{key}: must not be negative, got {value}")
    if number.denominator > 10**18 or number > 10**18:
        raise fail(key, f"{key}: too many digits, got {value}")
    return number


def _int(value: object, key: str, fail: Fail, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(key, f"{key}: expected a whole number, got {value!r}")
    if not low <= value <= high:
        raise fail(key, f"{key}: must be from {low} to {high}, got {value}")
    return value


def _strings(value: object, key: str, fail: Fail) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise fail(key, f"{key}: expected a string or a non-empty list of strings")
    if len(values) > MAX_VALUES:
        raise fail(key, f"{key}: {len(values)} values; at most {MAX_VALUES}")
    return tuple(sorted(set(values)))


def _statuses(value: object, key: str, fail: Fail) -> tuple[str, ...]:
    values = _strings(value, key, fail)
    for v in values:
        if not _STATUS.fullmatch(v):
            raise fail(key, f"{key}: a status is a class such as \"5xx\" or a code such as "
                       f"\"404\", got {v!r}")  # fmt: skip
    return values


def _match(value: object, fail: Fail) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise fail("match", 'match: expected a table such as { section = "/api" }')
    out = []
    for dim, values in sorted(value.items()):
        if dim not in DIMENSIONS:
            raise fail("match", f"match: unknown field {dim!r} (known: {', '.join(DIMENSIONS)})")
        key = f"match.{dim}"
        out.append((dim, _statuses(values, key, fail) if dim == "status" else _strings(
            values, key, fail)))  # fmt: skip
    return tuple(out)


class _Where:
    """Finds the line of a rule's key in the text, for the messages."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.starts = [i for i, line in enumerate(self.lines) if line.strip() == "[[rules]]"]

    def at(self, key: str | None, index: int | None = None) -> str:
        """`path:line` of `key` in rule `index` (its table's header when not found)."""
        if index is None:
            lines = range(len(self.lines))
        elif index < len(self.starts):
            end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
            lines = range(self.starts[index], end)
        else:
            return self.path
        if key is not None:
            head = key.split(".")[0]
            for i in lines:
                if re.match(rf"\s*{re.escape(head)}\s*[=.]", self.lines[i]):
                    return f"{self.path}:{i + 1}"
        if index is not None and index < len(self.starts):
            return f"{self.path}:{self.starts[index] + 1}"
        return self.path


def describe(spec: RuleSpec) -> str:
    """One rule as hitwatch understood it, thresholds as exact decimals."""
    parts = [spec.name, spec.kind, f"window {spec.window}s", f"threshold {exact(spec.threshold)}"]
    if spec.for_:
        parts.append(f"for {spec.for_}s")
    for dim, values in spec.match:
        parts.append(f"match {dim} in {', '.join(values)}")
    if spec.group_by:
        parts.append(f"group_by {spec.group_by} (at most {spec.max_groups} groups)")
    own = KINDS[spec.kind].keys
    if "errors" in own:
        parts.append(f"errors {', '.join(spec.errors)}")
    if "quantile" in own:
        parts.append(f"quantile {exact(spec.quantile)}")
    if "min_hits" in own:
        parts.append(f"min_hits {spec.min_hits}")
    return "  ".join(parts)


def exact(value: Fraction | int) -> str:
    """A threshold as the decimal it was written as: 0.1, not 0.1000000000000000055."""
    number = Fraction(value)
    whole, rest = divmod(number.numerator, number.denominator)
    if rest == 0:
        return str(whole)
    digits = []
    seen = 0
    while rest and seen < 40:  # thresholds come from decimals: this ends
        rest *= 10
        digit, rest = divmod(rest, number.denominator)
        digits.append(str(digit))
        seen += 1
    return f"{whole}.{''.join(digits)}"
