"""`hitwatch formats`: the formats hitwatch reads, a line of each; or one format's description.

hitwatch formats                  every format, with an example line
hitwatch formats vcombined        one preset: what it reads, its description
hitwatch formats '%h %t "%r" %>s' a format string: the description it compiles to
"""

from __future__ import annotations

import sys

from hitwatch import formats
from hitwatch.formats.compiler import FormatError, compile_format
from hitwatch.formats.describe import Description
from hitwatch.formats.presets import PRESETS, description
from hitwatch.render import safe


def main(argv: list[str]) -> int:
    out = sys.stdout
    if any(a in ("-h", "--help") for a in argv) or len(argv) > 1:
        out.write(__doc__ or "")
        return 0 if len(argv) <= 1 else 2
    if not argv:
        out.write(listing())
        return 0
    name = argv[0]
    if name in formats.FORMATS:
        out.write(one(name))
        return 0
    try:
        desc = compile_format(name)
    except FormatError as exc:
        print(f"hitwatch: error: {safe(str(exc))}", file=sys.stderr)
        return 2
    out.write(describe(desc))
    return 0


def listing() -> str:
    """Every registered format: its name and shape, then an example line of it."""
    lines = [
        "Formats hitwatch reads: --format NAME or --log-format NAME (auto detects them),",
        "or your server's format string as --log-format '...'; JSON with --json-fields.",
        "",
    ]
    for name, info in formats.FORMATS.items():
        if name not in formats.NAMES:
            continue  # registered for this run's options
        lines.append(f"{name:<13} {info.shape}")
        lines.extend(f"    {example}" for example in info.example)
        lines.append("")
    return "\n".join(lines)


def one(name: str) -> str:
    info = formats.FORMATS[name]
    lines = [f"{name}: {info.shape}"]
    preset = PRESETS.get(name)
    if preset is not None and preset.kind in ("apache", "notation"):
        lines.append(f"  format:      {preset.spec}")
        lines.append(f"  description: {description(preset).notation()}")
    elif preset is not None and preset.kind == "json":
        lines.append(f"  JSON fields: {preset.spec}")
    elif preset is not None:
        lines.append(f"  fields before any #Fields: line: {preset.spec}")
    lines += ["  example:", *(f"    {example}" for example in info.example), ""]
    return "\n".join(lines)


def describe(desc: Description) -> str:
    """A compiled format string: its notation and its items, as the C side reads them."""
    lines = [f"description: {desc.notation()}", "items (kind, field, text):"]
    lines += [f"  {kind} {field:>2} {text!r}" for kind, field, text in desc.as_data()]
    return "\n".join(lines) + "\n"
