"""typing's NamedTuple and Protocol, without importing typing at run time.

Importing typing (and fractions, which only annotations need) cost every run
~4 ms of start-up, of ~27 ms before the first line is read. mypy sees the
real ones. At run time Protocol is a plain base class, and NamedTuple makes
the class typing.NamedTuple makes: a collections.namedtuple of the annotated
fields (a default for each field given one), with the class body's other
attributes (methods, properties, the docstring) set on it. Annotations stay
unevaluated (`from __future__ import annotations`).
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Protocol
else:
    Protocol = object

    _MADE = frozenset({"__module__", "__qualname__", "__annotations__", "_root"})

    class _NamedTupleMeta(type):
        def __new__(mcls, name, bases, ns):
            if ns.get("_root"):
                return super().__new__(mcls, name, bases, ns)
            fields = list(ns.get("__annotations__", {}))
            defaults = [ns[f] for f in fields if f in ns]
            cls = collections.namedtuple(name, fields, defaults=defaults, module=ns["__module__"])
            for key, value in ns.items():
                if key not in _MADE and key not in fields:
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleMeta):
        _root = True


__all__ = ["TYPE_CHECKING", "NamedTuple", "Protocol"]
