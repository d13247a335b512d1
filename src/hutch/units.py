"""Docker's size units ("512k", "50m", "1g") parsed to bytes, and bytes shown as MiB. Below every layer."""

from __future__ import annotations

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(value: str | int, what: str = "size") -> int:
    """Parse a positive size; ValueError with a one-line message otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().lower()
        for suffix in ("ib", "b"):
            if text.endswith(suffix) and len(text) > len(suffix) and not text[-len(suffix) - 1].isdigit():
                text = text[: -len(suffix)]
                break
        digits = text.rstrip("kmgtpb")
        unit = text[len(digits):]
        try:
            number = int(float(digits) * _UNITS[unit])
        except (ValueError, KeyError, OverflowError):
            hint = "use a number with an optional unit b, k, m, g"
            raise ValueError(f"invalid {what} {value!r}: {hint}") from None
    if number <= 0:
        raise ValueError(f"invalid {what} {value!r}: must be greater than zero")
    return number


def mib(value: int | None) -> str:
    return "unknown" if value is None else f"{value / (1 << 20):.1f} MiB"
