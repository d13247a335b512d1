"""Reading config.json objects into Records and back, checking each value against the field's type hint.

A model class declares its fields as Record annotations; this module derives everything else from them: the
JSON key (camelCase of the field name, or the class's `_keys` entry), the expected JSON type (int, str, bool,
a Record, list[...] or dict[str, ...], optional with `| None`), range and choice checks (`_ranges`,
`_choices`), and a `check(where)` method for rules between fields. Keys the model does not know are kept
on the record (`extra`) and written back unchanged, as the runtime spec asks of unknown fields.
"""

from __future__ import annotations

import sys

from hutch import jsonlite
from hutch.record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

U32 = (0, 2**32 - 1)
I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)
U64 = (0, 2**64 - 1)

_NAMES = {"int": "an integer", "str": "a string", "bool": "true or false", "float": "a number",
          "list": "a list", "dict": "an object", "record": "an object"}


class SpecError(ValueError):
    """An invalid config; str() is one line naming the offending field."""


class Model(Record):
    """A config.json object. Subclasses may set `_keys` (field -> JSON key), `_ranges` (field -> (lo, hi)),
    `_choices` (field -> allowed strings) and override `check(where)`."""

    _keys: dict[str, str] = {}
    _ranges: dict[str, tuple[int, int]] = {}
    _choices: dict[str, tuple[str, ...]] = {}

    def check(self, where: str) -> None:
        """Rules between fields, after every field has its type; raise SpecError."""

    @classmethod
    def parse(cls, raw: Any, where: str) -> Any:
        return _parse_record(cls, raw, where)

    def dump(self) -> dict[str, Any]:
        return _dump_record(self)


def show(value: Any) -> str:
    """A value as the user wrote it in JSON, shortened for a one-line message."""
    try:
        text = jsonlite.dumps(value)
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


# --- the field table, derived once per class ------------------------------------------------------------

class _Field:
    __slots__ = ("key", "kind", "name", "optional", "required")

    def __init__(self, name: str, key: str, kind: tuple, optional: bool, required: bool) -> None:
        self.name, self.key, self.kind, self.optional, self.required = name, key, kind, optional, required


_TABLES: dict[type, list[_Field]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _table(cls: type) -> list[_Field]:
    table = _TABLES.get(cls)
    if table is None:
        scope = vars(sys.modules[cls.__module__])
        hints: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            hints.update(klass.__dict__.get("__annotations__", {}))  # noqa: RUF063
        table = []
        for name in cls._fields:  # type: ignore[attr-defined]
            kind, optional = _kind(hints[name], scope)
            key = cls._keys.get(name) or _camel(name)  # type: ignore[attr-defined]
            table.append(_Field(name, key, kind, optional, name not in cls._defaults))  # type: ignore[attr-defined]
        _TABLES[cls] = table
    return table


def _kind(hint: str, scope: dict[str, Any]) -> tuple[tuple, bool]:
    parts = [p.strip() for p in hint.split("|")]
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    return _parse_hint(" | ".join(parts), scope), optional


def _parse_hint(hint: str, scope: dict[str, Any]) -> tuple:
    if hint in ("int", "str", "bool", "float"):
        return (hint,)
    if hint in ("object", "Any"):
        return ("any",)
    if hint.startswith("list[") and hint.endswith("]"):
        return ("list", _parse_hint(hint[5:-1].strip(), scope))
    if hint.startswith("dict[str,") and hint.endswith("]"):
        return ("dict", _parse_hint(hint[9:-1].strip(), scope))
    cls = scope.get(hint)
    if isinstance(cls, type) and issubclass(cls, Model):
        return ("record", cls)
    raise TypeError(f"schema: unsupported type hint {hint!r}")


# --- parsing --------------------------------------------------------------------------------------------

def _parse_record(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise fail(where, f"must be an object, got {show(raw)}")
    values: dict[str, Any] = {}
    known = set()
    for field in _table(cls):
        known.add(field.key)
        item = raw.get(field.key)
        here = f"{where}.{field.key}" if where else field.key
        if item is None:
            if field.required:
                raise fail(here, "missing")
            continue
        value = _convert(field.kind, item, here)
        _check_value(cls, field.name, value, here)
        values[field.name] = value
    record = cls(**values)
    extra = {k: v for k, v in raw.items() if k not in known}
    if extra:
        object.__setattr__(record, "extra", extra)
    record.check(where)
    return record


def _convert(kind: tuple, value: Any, where: str) -> Any:
    tag = kind[0]
    if tag == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)  # JSON has one number type: 1e3 is an integer
            raise fail(where, f"must be an integer, got {show(value)}")
        return value
    if tag == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(where, f"must be a number, got {show(value)}")
        return value
    if tag == "str":
        if not isinstance(value, str):
            raise fail(where, f"must be a string, got {show(value)}")
        return value
    if tag == "bool":
        if not isinstance(value, bool):
            raise fail(where, f"must be true or false, got {show(value)}")
        return value
    if tag == "list":
        if not isinstance(value, list):
            raise fail(where, f"must be a list, got {show(value)}")
        return [_convert(kind[1], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if tag == "dict":
        if not isinstance(value, dict):
            raise fail(where, f"must be an object, got {show(value)}")
        return {k: _convert(kind[1], v, f"{where}.{k}") for k, v in value.items()}
    if tag == "record":
        return _parse_record(kind[1], value, where)
    return value


def _check_value(cls: type, name: str, value: Any, where: str) -> None:
    bounds = cls._ranges.get(name)  # type: ignore[attr-defined]
    if bounds is not None:
        for item in value if isinstance(value, list) else [value]:
            if not bounds[0] <= item <= bounds[1]:
                raise fail(where, f"must be between {bounds[0]} and {bounds[1]}, got {item}")
    choices = cls._choices.get(name)  # type: ignore[attr-defined]
    if choices is not None:
        for item in value if isinstance(value, list) else [value]:
            if item not in choices:
                raise fail(where, f"must be one of {', '.join(choices)}, got {show(item)}")


# --- dumping --------------------------------------------------------------------------------------------

def _dump_record(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in _table(type(record)):
        value = _dump(getattr(record, field.name))
        if value is None or value == [] or value == {}:
            continue
        out[field.key] = value
    extra = getattr(record, "extra", None)
    if extra:
        for key, value in extra.items():
            out.setdefault(key, value)
    return out


def _dump(value: Any) -> Any:
    if isinstance(value, Model):
        return _dump_record(value)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


__all__ = ["I32", "I64", "U32", "U64", "Factory", "Model", "SpecError", "fail", "show"]
