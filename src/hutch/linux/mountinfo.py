"""Parsing of /proc/<pid>/mountinfo into typed records."""

from __future__ import annotations

from hutch.record import Record


class Mount(Record):
    mount_id: int
    parent_id: int
    device: str
    root: str
    mount_point: str
    mount_options: tuple[str, ...]
    optional_fields: tuple[str, ...]
    fs_type: str
    source: str
    super_options: tuple[str, ...]


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash as three-digit octal escapes.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and len(field[i + 1 : i + 4]) == 3:
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_line(line: str) -> Mount:
    left, sep, right = line.rstrip("\n").partition(" - ")
    if not sep:
        raise ValueError(f"malformed mountinfo line: {line!r}")
    fields = left.split(" ")
    tail = right.split(" ")
    if len(fields) < 6 or len(tail) < 3:
        raise ValueError(f"malformed mountinfo line: {line!r}")
    return Mount(
        mount_id=int(fields[0]),
        parent_id=int(fields[1]),
        device=fields[2],
        root=_unescape(fields[3]),
        mount_point=_unescape(fields[4]),
        mount_options=tuple(fields[5].split(",")),
        optional_fields=tuple(f for f in fields[6:] if f),
        fs_type=tail[0],
        source=_unescape(tail[1]),
        super_options=tuple(" ".join(tail[2:]).split(",")),
    )


def parse(text: str) -> list[Mount]:
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def read(pid: int | str = "self") -> list[Mount]:
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return parse(f.read())
