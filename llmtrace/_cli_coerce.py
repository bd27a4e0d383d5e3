"""Plain option values for the ``llmtrace`` command without importing pydantic.

Typer (0.2x with its own click) checks every option's value with a pydantic ``TypeAdapter``
built when the command runs, so even ``llmtrace traces list`` imports pydantic (~0.15 s of
CPU, about half the command's start). llmtrace's options are plain ``str``, ``bool``, ``int``,
``float`` and ``list[str]``; `lighten` gives such options a coercion that accepts the values
that need no judgement (a string, a flag's bool, a plain decimal integer or number inside its
``min``/``max``) exactly as typer's adapter would, and hands every other value -- a typo, a
value out of range, anything odd -- to typer's own adapter, so errors read as typer's.

It uses typer's private ``_runtime_param`` slot; on a typer without it nothing changes.
tests/test_cli_coerce.py compares it with typer's own coercion.

Example:
    >>> lighten(typer.main.get_command(app), ctx)   # before the command parses its arguments
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


class PlainParam:
    """Typer's ``RuntimeParam.coerce`` for one plain option, typer's own for the rest."""

    def __init__(self, param: Any) -> None:
        self.param = param
        descriptor = param.type_descriptor
        self.annotation = descriptor.annotation
        info = descriptor.parameter_info
        self.low, self.high = info.min, info.max
        self._typer: Any = None

    def _plain(self, value: Any, kind: Any) -> tuple[bool, Any]:
        """(True, the value) when it needs no judgement, else (False, None)."""
        if kind is str:
            return (True, value) if isinstance(value, str) else (False, None)
        if kind is bool:  # a flag's own value; typer judges words such as "yes"
            return (True, value) if isinstance(value, bool) else (False, None)
        if isinstance(value, bool):
            return False, None
        if isinstance(value, str):
            pattern = _INT if kind is int else _FLOAT
            if not pattern.fullmatch(value):
                return False, None
            value = kind(value)
        elif not isinstance(value, kind):
            return False, None
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            return False, None
        return True, value

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """The option's value as typer would give it (typer's adapter decides the rest)."""
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if self.annotation in (str, bool, int, float):
            done, out = self._plain(value, self.annotation)
            if done:
                return out
        elif isinstance(value, (list, tuple)):  # list[str]
            items = [self._plain(v, str) for v in value]
            if all(done for done, _ in items):
                return [v for _, v in items]
        return self._own().coerce(value, param=param, ctx=ctx)

    def _own(self) -> Any:
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self.param.type_descriptor)
        return self._typer


def _plain_option(param: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", False) is not None:
        return False
    info = descriptor.parameter_info
    if info.parser is not None or getattr(info, "clamp", False) or descriptor.is_file:
        return False
    if descriptor.is_choice or descriptor.is_path:
        return False
    return descriptor.annotation in (str, bool, int, float, list[str])


def lighten(command: Any, ctx: Any, deep: bool = True) -> None:
    """Give ``command``'s plain options (and, ``deep``, its subcommands') the plain coercion."""
    for param in command.get_params(ctx):
        if _plain_option(param):
            param._runtime_param = PlainParam(param)
    if deep:
        for sub in getattr(command, "commands", {}).values():
            lighten(sub, ctx)
