"""Log records and the splitter that turns a stage's raw output into lines.

A deployment's log is a sequence of records numbered by a cursor from 1: output lines and
stage events. Records travel and are stored in batches (`LogBatch`) of consecutive cursors.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
from typing import Any

MAX_LINE_CHARS = 64 * 1024


@dataclasses.dataclass(frozen=True)
class LogBatch:
    """Records `first..last`: lines (`data` joined by newlines) or one stage event (JSON)."""

    kind: str
    first: int
    last: int
    data: str

    def lines(self) -> list[str]:
        return self.data.split("\n")

    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value

    def after(self, cursor: int) -> LogBatch | None:
        """The part of this batch past `cursor`, or None when nothing is left."""
        if self.last <= cursor:
            return None
        if self.first > cursor:
            return self
        rest = self.lines()[cursor - self.first + 1 :]
        return LogBatch(self.kind, cursor + 1, self.last, "\n".join(rest))


# What a terminal acts on instead of printing: the C0 controls but tab and newline, DEL, and
# the C1 controls (U+009B is a CSI to some terminals).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """`text` with control characters shown as escapes (ESC as `\\x1b`, CR as `\\x0d`), so a
    log printed to a terminal cannot move the cursor, erase or redraw what is on screen (and
    so rebuild a masked value there)."""
    return CONTROL.sub(_visible, text) if CONTROL.search(text) else text


def stage_marker(event: dict[str, Any]) -> str:
    """The plain-text line that opens a stage: `==> build (attempt 1)`."""
    return f"==> {event['name']} (attempt {event['attempt']})"


def utf8_decoder() -> codecs.IncrementalDecoder:
    """Bytes to text; invalid UTF-8 becomes U+FFFD, also across read boundaries."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class LineSplitter:
    """Text in, complete lines out.

    `\\r\\n` ends a line; a bare `\\r` rewrites the line as a terminal would, keeping the
    text after it; lines longer than 64 KiB characters are cut into pieces.
    """

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, text: str) -> list[str]:
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE_CHARS:
            whole = len(self._partial) // MAX_LINE_CHARS * MAX_LINE_CHARS
            lines.append(self._partial[:whole])
            self._partial = self._partial[whole:]
        if "\r" not in text and len(text) <= MAX_LINE_CHARS:
            return lines
        return _clean(lines)

    def close(self) -> list[str]:
        rest, self._partial = self._partial, ""
        return _clean([rest]) if rest else []


def _clean(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if "\r" in line:
            line = line.rstrip("\r")
            line = line[line.rfind("\r") + 1 :]
        if len(line) > MAX_LINE_CHARS:
            out.extend(line[i : i + MAX_LINE_CHARS] for i in range(0, len(line), MAX_LINE_CHARS))
        else:
            out.append(line)
    return out
