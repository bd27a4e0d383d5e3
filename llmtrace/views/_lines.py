"""Styled lines and the rich renderable that prints them (fast: no wrapping, one pass).

A view is a list of `Line`s, each a list of ``(text, style)`` pieces. `Lines` prints them on any
rich console, cutting each line at the console's width with ``…``. Where rich would write no
escape codes (output to a pipe or file), `plain_text` gives the same characters without
importing rich (~50 ms of a CLI command's start), at `plain_width` (rich's width rules).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions

Piece = tuple[str, str]
Line = list[Piece]


def line_text(line: Line) -> str:
    """The plain text of a line."""
    return "".join(text for text, _ in line)


def rstrip(line: Line) -> Line:
    """The line without trailing spaces."""
    out = list(line)
    while out:
        text, style = out[-1]
        stripped = text.rstrip()
        if stripped:
            out[-1] = (stripped, style)
            break
        out.pop()
    return out


def crop(line: Line, width: int) -> Line:
    """Cut a line to ``width`` characters (the last one becomes ``…`` when cut)."""
    total = sum(len(text) for text, _ in line)
    if total <= width:
        return line
    out: Line = []
    left = width - 1
    for text, style in line:
        if left <= 0:
            break
        out.append((text[:left], style))
        left -= len(text[:left])
    style = line[min(len(out), len(line)) - 1][1] if out else ""
    out.append(("…", style))
    return out


def rich_would_style() -> bool:
    """True when a default rich console would write escape codes (or is not a plain stream).

    rich's own rules (``Console.is_terminal``): ``TTY_COMPATIBLE`` 0/1, then ``FORCE_COLOR``
    (set and not empty), then whether stdout is a terminal; on Windows always True.
    """
    if os.name == "nt":
        return True
    tty = os.environ.get("TTY_COMPATIBLE", "")
    if tty in ("0", "1"):
        return tty == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


def plain_width() -> int:
    """The width a default rich console takes (not on Windows): ``COLUMNS``, else the size of
    the first standard stream that is a terminal, else 80.

    Example:
        >>> os.environ["COLUMNS"] = "100"; plain_width()
        100
    """
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns) or 80
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        return width or 80
    return 80


#: Characters one terminal cell wide for certain (rich measures the same): printable ASCII and
#: Latin letters, and the views' own marks. Text with anything else is printed by rich.
_NARROW = frozenset(
    [chr(c) for c in range(0x20, 0x7F)]
    + [chr(c) for c in range(0xA1, 0x250) if c != 0xAD]
    + list("µ·—…→─│└├▁▂▃▄▅▆▇█✗✓")
)


def plain_text(lines: Iterable[Line], width: int) -> str | None:
    """What `Lines` prints at ``width`` on a console without styles, as one string; None when
    a character's width in cells is not certain (wide or combining ones: rich measures those).

    Example:
        >>> plain_text([[("hello ", ""), ("world", "bold")]], 80)
        'hello world\\n'
    """
    out = []
    for line in lines:
        text = line_text(rstrip(crop(line, width)))
        if not (text.isascii() and text.isprintable()) and not _NARROW.issuperset(text):
            return None
        out.append(text + "\n")
    return "".join(out)


class Lines:
    """A block of styled lines as a rich renderable.

    Example:
        >>> from rich.console import Console
        >>> Console().print(Lines([[("hello ", ""), ("world", "bold")]]))
        hello world
    """

    def __init__(self, lines: Iterable[Line]) -> None:
        self.lines = list(lines)

    def plain(self) -> str:
        """The text without styles, one line per line."""
        return "\n".join(line_text(line).rstrip() for line in self.lines)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        from rich.segment import Segment
        from rich.style import Style

        width = options.max_width
        cache: dict[str, Style] = {}
        newline = Segment.line()
        for line in self.lines:
            for text, style in rstrip(crop(line, width)):
                if not style:
                    yield Segment(text)
                    continue
                parsed = cache.get(style)
                if parsed is None:
                    parsed = cache[style] = Style.parse(style)
                yield Segment(text, parsed)
            yield newline
