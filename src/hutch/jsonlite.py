"""JSON without the json package: its import pulls in `re` and costs ~15 ms, more than a container start.

Below every layer: any hutch module may use it. Parsing and compact encoding are the C accelerators that the
json package itself uses (`_json`); indented output is a small recursive writer in the layout of
`json.dumps(obj, indent=N)`.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class JSONError(ValueError):
    """Malformed JSON; str() is one line with the position."""


def _constant(name: str) -> float:
    raise JSONError(f"invalid JSON constant {name}")


class _Context:
    # The attributes _json.make_scanner reads from json.JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict = {}


_scan = _json.make_scanner(_Context())
_WHITESPACE = " \t\n\r"


def loads(text: str | bytes) -> Any:
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError, SystemError):
        # The accelerator's error path needs json.decoder (and fails oddly without it loaded): on bad input
        # only, let the json package say what is wrong and where.
        import json

        try:
            json.loads(text)
        except ValueError as exc:
            raise JSONError(f"invalid JSON: {exc}") from None
        raise JSONError("invalid JSON") from None
    if text[end:].strip(_WHITESPACE):
        raise JSONError(f"invalid JSON: extra data at character {end}")
    return value


def _unserializable(value: object) -> object:
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_compact = _json.make_encoder(None, _unserializable, _json.encode_basestring, None, ":", ",",
                              False, False, False)
_spaced = _json.make_encoder(None, _unserializable, _json.encode_basestring, None, ": ", ", ",
                             False, False, False)


def dumps(value: Any, indent: int | str | None = None, compact: bool = True) -> str:
    """Encode value; `indent` (spaces, or a string such as a tab) gives json.dumps(indent=...)'s layout;
    `compact` drops the spaces after : and , of the one-line form."""
    if indent is None:
        return "".join((_compact if compact else _spaced)(value, 0))
    out: list[str] = []
    _write(value, out, indent if isinstance(indent, str) else " " * indent, "\n")
    return "".join(out)


def _write(value: Any, out: list[str], step: str, newline: str) -> None:
    if isinstance(value, dict) and value:
        inner = newline + step
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("," if i else "") + inner + _json.encode_basestring(str(key)) + ": ")
            _write(item, out, step, inner)
        out.append(newline + "}")
    elif isinstance(value, list | tuple) and value:
        inner = newline + step
        out.append("[")
        for i, item in enumerate(value):
            out.append(("," if i else "") + inner)
            _write(item, out, step, inner)
        out.append(newline + "]")
    else:
        out.append("".join(_compact(value, 0)))
