"""Record: dataclass-style classes without importing dataclasses (and inspect) on the start path.

Below every layer: any hutch module may use it. Fields are the class's annotations, in order; a default is the
class attribute of that name, and `Factory(list)` gives each instance its own mutable default.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_MISSING = object()


class Factory:
    """A default made fresh for every instance, as dataclasses.field(default_factory=...)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


class Record:
    """Subclasses get __init__ (positional or keyword), __repr__, __eq__ and _asdict from annotations."""

    _fields: tuple[str, ...] = ()
    _defaults: dict[str, object] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            # inspect.get_annotations would import inspect, the very cost this module avoids.
            for name in klass.__dict__.get("__annotations__", {}):  # noqa: RUF063
                if name.startswith("_"):
                    continue
                fields[name] = klass.__dict__.get(name, fields.get(name, _MISSING))
        cls._fields = tuple(fields)
        cls._defaults = {name: value for name, value in fields.items() if value is not _MISSING}
        for name in cls._defaults:
            if isinstance(cls.__dict__.get(name), Factory):
                delattr(cls, name)

    def __init__(self, *args: object, **kwargs: object) -> None:
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__} takes {len(self._fields)} arguments, got {len(args)}")
        values = dict(zip(self._fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in self._fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated argument {name!r}")
            values[name] = value
        for name in self._fields:
            if name in values:
                value = values[name]
            else:
                value = self._defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__}: missing argument {name!r}")
                if isinstance(value, Factory):
                    value = value.make()
            object.__setattr__(self, name, value)

    def _replace(self, **changes: object) -> Record:
        """A copy with some fields changed, as dataclasses.replace."""
        return type(self)(**{**self._asdict(), **changes})

    def _asdict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self._fields}

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._asdict() == other._asdict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, like a non-frozen dataclass
