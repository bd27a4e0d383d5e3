"""A call's arguments by parameter name, as ``inspect.Signature.bind_partial`` gives them.

``bind_partial`` walks the signature's parameters on every call (~4 µs a span on the export
thread). Most traced functions take only named parameters (no ``*args``, ``**kwargs`` or
positional-only ones); for those `CallShape` binds with a zip and a dict, in the same order and
with the same result. Anything else, or a call ``bind_partial`` would refuse, takes
``bind_partial`` itself, so its errors stay the same too.
"""

from __future__ import annotations

import inspect
from typing import Any

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class CallShape:
    """The parameters of one traced function, worked out once when it is decorated.

    Example:
        >>> def f(a, b=2, *, c=3): ...
        >>> CallShape(inspect.signature(f)).bind((1,), {"c": 4})
        {'a': 1, 'c': 4}
    """

    __slots__ = ("_names", "_positional", "_simple", "sig", "var_keyword")

    def __init__(self, sig: inspect.Signature | None) -> None:
        self.sig = sig
        params = list(sig.parameters.values()) if sig is not None else []
        self._simple = sig is not None and all(p.kind in _NAMED for p in params)
        self._names = tuple(p.name for p in params)
        self._positional = sum(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
        #: the name of the ``**kwargs`` parameter, if the function has one
        self.var_keyword = next(
            (p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """``sig.bind_partial(*args, **kwargs).arguments`` as a dict (its errors too).

        Raises:
            TypeError: the call does not fit the signature (as ``bind_partial`` raises).
        """
        if self._simple and len(args) <= self._positional:
            names = self._names
            bound = dict(zip(names, args, strict=False))  # fewer args than names
            if not kwargs:
                return bound
            if all(k in names and k not in bound for k in kwargs):
                bound.update(kwargs)
                return {n: bound[n] for n in names if n in bound}
        if self.sig is None:
            raise TypeError("no signature to bind the arguments to")
        return dict(self.sig.bind_partial(*args, **kwargs).arguments)
