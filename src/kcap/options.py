"""Options declared once, on the dataclass field they set.

A user-facing field of ``TrainConfig`` or ``ModelSpec`` declares its default, help, bounds and
choices in one place; its type is its annotation::

    exposures: int = option(100, "Exposures of every person.", lo=1)

From that one declaration come the dataclass's own one-line validation (``check``), the options of
``kcap train`` (``with_options``, as litgpt derives its CLI from its argument dataclasses) and the
leaves of a sweep spec (sweep/schema.py). A field without it is internal: neither the command line
nor a spec sets it.
"""

from __future__ import annotations

import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from kcap.errors import KcapError

KEY = "kcap.option"


@dataclass(frozen=True)
class Option:
    help: str
    lo: float | None = None  # inclusive bounds, unless lo_open / hi_open
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: Collection[str] | None = None  # a tuple, or a live view such as a registry's keys()
    axis: bool = True  # in a sweep spec a list of values is a grid axis (False: one value only)
    cli: bool = True  # an option of `kcap train`
    sweep: bool = True  # a key of a sweep spec
    negative: str | None = None  # a bool's flag for False (default: --no-NAME)


def option(default: Any, help: str, **kw) -> Any:
    """A dataclass field that is a user-facing option (keywords: those of ``Option``); a default of
    ``dataclasses.MISSING`` makes it required."""
    return field(default=default, metadata={KEY: Option(help, **kw)})


@dataclass(frozen=True)
class Declared:
    """One option as declared: its field name, its type with None split off, default and ``Option``."""

    name: str
    type: type  # int, float, str or bool
    nullable: bool  # None is allowed: "derive the default" (the paper's lr for N, ...)
    default: Any
    option: Option

    @property
    def flag(self) -> str:
        return flag_of(self.name)

    def flag_for(self, value: Any) -> str:
        """The flag that gives ``value``: a bool's negative flag for False."""
        if self.type is bool and value is False:
            return self.option.negative or f"--no-{self.flag[2:]}"
        return self.flag


def flag_of(name: str) -> str:
    """The command-line flag of a field: ``grad_accum`` -> ``--grad-accum``."""
    return "--" + name.replace("_", "-")


@cache
def declared(cls: type) -> tuple[Declared, ...]:
    """The options of a dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        if KEY in f.metadata:
            t, nullable = _split_none(hints[f.name])
            out.append(Declared(f.name, t, nullable, f.default, f.metadata[KEY]))
    return tuple(out)


def _split_none(t) -> tuple[type, bool]:
    args = typing.get_args(t)
    if typing.get_origin(t) in (typing.Union, types.UnionType) and type(None) in args:
        (t,) = [a for a in args if a is not type(None)]
        return t, True
    return t, False


def bounds_problem(value: float, o) -> str | None:
    """What is wrong with a number against the bounds of ``o`` (an Option or a sweep Leaf)."""
    if o.lo is not None and (value <= o.lo if o.lo_open else value < o.lo):
        return f"must be {'>' if o.lo_open else '>='} {o.lo!r}, got {value!r}"
    if o.hi is not None and (value >= o.hi if o.hi_open else value > o.hi):
        return f"must be {'<' if o.hi_open else '<='} {o.hi!r}, got {value!r}"
    return None


def value_problem(value: Any, d: Declared) -> str | None:
    """What is wrong with a value for an option, as "must be ...", or None."""
    if value is None:
        return None if d.nullable else "must be given, got None"
    o = d.option
    if d.type in (int, float):
        # numbers.Integral / Real also admit numpy's scalars; bool is an int to Python, not here
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if d.type is int else numbers.Real):
            return f"must be {'an integer' if d.type is int else 'a number'}, got {value!r}"
        if not math.isfinite(value):  # also refuses NaN, which no comparison would catch
            return f"must be finite, got {value!r}"
        return bounds_problem(value, o)
    if not isinstance(value, d.type):
        return f"must be a {d.type.__name__}, got {value!r}"
    if o.choices and value not in o.choices:
        return f"must be one of {', '.join(o.choices)}, got {value!r}"
    return None


def check(obj: Any, name: Callable[[Declared], str] = lambda d: d.name) -> None:
    """Raise a one-line ``KcapError`` for the first option of ``obj`` out of its type, bounds or choices."""
    for d in declared(type(obj)):
        problem = value_problem(getattr(obj, d.name), d)
        if problem:
            raise KcapError(f"{name(d)} {problem}")


# ---------------------------------------------------------------- the command line (typer)


def cli_parameter(d: Declared, panel: str | None = None) -> inspect.Parameter:
    """A typer option for ``d``: ``--name`` (a bool: ``--name/--no-name``), its help and default."""
    import typer

    decl = f"{d.flag}/{d.flag_for(False)}" if d.type is bool else d.flag
    info = typer.Option(decl, help=d.option.help, rich_help_panel=panel)
    kind = d.type | None if d.nullable else d.type
    return inspect.Parameter(d.name, inspect.Parameter.KEYWORD_ONLY, default=d.default,
                             annotation=typing.Annotated[kind, info])


def cli_annotation(cls: type, name: str) -> Any:
    """The typer annotation of one option, for a command that takes it with a default of its own."""
    (d,) = [d for d in declared(cls) if d.name == name]
    return cli_parameter(d).annotation


def with_options(*groups: tuple[type, str]) -> Callable:
    """Decorator: the command also takes the CLI options of each ``(dataclass, help panel)``, after
    its own parameters; typer passes them in the function's ``**kwargs``."""

    def wrap(func: Callable) -> Callable:
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.kind != p.VAR_KEYWORD]
        extra = [cli_parameter(d, panel) for cls, panel in groups for d in declared(cls) if d.option.cli]
        names = [p.name for p in own + extra]
        if len(set(names)) != len(names):
            raise TypeError(f"{func.__name__}: an option is declared twice: {sorted(names)}")
        own = [p.replace(kind=p.KEYWORD_ONLY) for p in own]
        func.__signature__ = inspect.Signature(own + extra)
        return func

    return wrap


def pick(cls: type, values: dict) -> dict:
    """The values of ``cls``'s CLI options from a command's keyword arguments."""
    return {d.name: values[d.name] for d in declared(cls) if d.option.cli}
