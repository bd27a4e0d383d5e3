"""Styled lines and the rich renderable that prints them (fast: no wrapping, one pass).

A view is a list of `Line`s, each a list of ``(text, style)`` pieces. `Lines` prints them on any
rich console, cutting each line at the console's width with ``…``.
"""

from __future__ import annotations

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
