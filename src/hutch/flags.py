"""A small command-line flag parser for hutch's two command lines: docker's style and runc's (Go) style.

argparse (with gettext, locale and shutil behind it) costs more at start-up than the whole container setup.
Below every layer: the `hutch` CLI and the `hutch-runtime` CLI both use it.

docker style (the default): flags stop at the first argument (the command), `-it` is `-i -t`, `-m50m` is
`-m 50m`. Go style (`go_style=True`, as runc's urfave/cli): `-root DIR` equals `--root DIR`, a boolean
takes `--flag=false`, and flags may follow the positional arguments until `stop_after` of them were seen
(then the rest is passed through untouched: the command of `exec`, the ps arguments of `ps`).
"""

from __future__ import annotations

from hutch.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class UsageError(Exception):
    """Bad command line; str() is the one-line message."""


class Option(Record):
    names: tuple[str, ...]  # e.g. ("-m", "--memory")
    metavar: str = ""  # empty for a boolean flag
    help: str = ""
    convert: Callable[[str], object] | None = None
    repeat: bool = False  # collect every occurrence into a list
    default: object = None
    choices: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        return self.names[-1].lstrip("-").replace("-", "_")

    @property
    def takes_value(self) -> bool:
        return bool(self.metavar)


_BOOLEAN_WORDS = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}


def parse(options: list[Option], argv: list[str], go_style: bool = False,
          stop_after: int | None = None) -> tuple[dict[str, object], list[str]]:
    """Parse flags; return their values and the remaining arguments.

    docker style returns at the first non-flag argument. Go style collects positional arguments and keeps
    parsing flags between them, until `stop_after` positionals were seen (None: parse to the end).
    """
    table = {name: opt for opt in options for name in opt.names}
    values: dict[str, object] = {opt.dest: ([] if opt.repeat else opt.default) for opt in options}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return values, positional + argv[i + 1:]
        if not token.startswith("-") or token == "-":
            if not go_style:
                return values, argv[i:]
            positional.append(token)
            i += 1
            if stop_after is not None and len(positional) >= stop_after:
                return values, positional + argv[i:]
            continue
        if token.startswith("--") or (go_style and "--" + token[1:].partition("=")[0] in table):
            name, eq, inline = token.lstrip("-").partition("=")
            name = "--" + name if "--" + name in table or len(name) > 1 else "-" + name
            i = _take(_lookup(table, name), name, inline if eq else None, argv, i, values, go_style)
        else:
            i = _short_cluster(table, token, argv, i, values, go_style)
    return values, positional


def _lookup(table: dict[str, Option], name: str) -> Option:
    opt = table.get(name)
    if opt is None:
        raise UsageError(f"unknown flag: {name}")
    return opt


def _short_cluster(table: dict[str, Option], token: str, argv: list[str], i: int,
                   values: dict[str, object], go_style: bool) -> int:
    """-it is -i -t; -m50m and -m=50m are -m 50m."""
    for pos in range(1, len(token)):
        name = "-" + token[pos]
        opt = _lookup(table, name)
        if opt.takes_value:
            inline = token[pos + 1:].removeprefix("=")
            return _take(opt, name, inline or None, argv, i, values, go_style)
        if go_style and token[pos + 1:pos + 2] == "=":
            return _take(opt, name, token[pos + 2:], argv, i, values, go_style)
        _store(opt, name, True, values)
    return i + 1


def _take(opt: Option, name: str, inline: str | None, argv: list[str], i: int,
          values: dict[str, object], go_style: bool) -> int:
    if not opt.takes_value:
        if inline is None:
            _store(opt, name, True, values)
        elif go_style and inline.lower() in _BOOLEAN_WORDS:
            _store(opt, name, _BOOLEAN_WORDS[inline.lower()], values)
        else:
            raise UsageError(f"flag {name} does not take a value")
        return i + 1
    if inline is None:
        if i + 1 >= len(argv):
            raise UsageError(f"flag needs an argument: {name}")
        inline, i = argv[i + 1], i + 1
    _store(opt, name, _convert(opt, name, inline), values)
    return i + 1


def _convert(opt: Option, name: str, text: str) -> object:
    if opt.choices and text not in opt.choices:
        raise UsageError(f"invalid argument {text!r} for {name}: choose from {', '.join(opt.choices)}")
    if opt.convert is None:
        return text
    try:
        return opt.convert(text)
    except ValueError:
        kind = {int: "an integer", float: "a number"}.get(opt.convert, "a valid value")  # type: ignore[call-overload]
        raise UsageError(f"invalid argument {text!r} for {name}: expected {kind}") from None


def _store(opt: Option, name: str, value: object, values: dict[str, object]) -> None:
    if opt.repeat:
        values[opt.dest].append(value)  # type: ignore[union-attr]
    else:
        values[opt.dest] = value


def help_text(usage: str, summary: str, options: list[Option]) -> str:
    lines = [f"Usage: {usage}", "", summary, "", "Options:"]
    for opt in options:
        flags = ", ".join(opt.names) + (f" {opt.metavar}" if opt.metavar else "")
        lines.append(f"  {flags:<28} {opt.help}")
    return "\n".join(lines)
