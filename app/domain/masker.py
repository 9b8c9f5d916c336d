"""Masking secret values out of text, including text that arrives in pieces.

Each secret is searched in every form a program might print it: as is, each line of a
multi-line value, base64 at the three byte alignments (also wrapped into lines, as GNU
`base64` does at 76 columns), hex in either case, URL-encoded (with upper- or lowercase
escapes) and JSON-escaped (also with `\\/`). Matches are leftmost-longest (Aho-Corasick,
`pyahocorasick`). Streamed text keeps its last `longest form - 1` characters back until more
arrives, so a value split across reads is still caught (the leak GitLab Runner had with
secrets straddling its read buffer).

Wrapped base64 of a short value (up to 76 characters of base64) is searched as every way a
line break can cut it. A longer one would need too many such forms, so its base64 is cut into
19-character anchors instead: however it is wrapped (at 37 columns or more), one of its lines
holds a whole anchor, and a hit is extended both ways across line breaks to the whole form.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import ahocorasick  # type: ignore[import-not-found]

MASK = "[MASKED]"
MIN_FORM = 4
WRAP = 76  # GNU base64's line length
ANCHOR = 19  # any wrapped line of 37 characters or more holds a whole anchor
ESCAPE = re.compile(r"%[0-9A-F]{2}")

Anchor = tuple[int, str, int]  # (anchor length, the whole base64 form, the anchor's offset in it)


def _lowercase_escapes(text: str) -> str:
    return ESCAPE.sub(lambda m: m.group().lower(), text)


def _base64_forms(raw: bytes) -> list[str]:
    """The base64 characters that depend on `raw` alone, at each of the three alignments."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start, end = (8 * offset + 5) // 6, ((offset + len(raw)) * 8) // 6
        forms.append(encoded[start:end])
    return forms


def _wrapped(form: str) -> set[str]:
    """`form` with a line break at each place one can fall (a form of at most WRAP
    characters holds at most one)."""
    return {f"{form[:i]}\n{form[i:]}" for i in range(1, len(form))} if len(form) <= WRAP else set()


def secret_forms(value: str) -> set[str]:
    """Every form of `value` to mask; forms shorter than 4 characters cannot be masked."""
    raw = value.encode()
    escaped = json.dumps(value)[1:-1]
    unescaped = json.dumps(value, ensure_ascii=False)[1:-1]
    url, url_plus = quote(value, safe=""), quote_plus(value)
    forms = {value, url, url_plus, _lowercase_escapes(url), _lowercase_escapes(url_plus)}
    forms.update({escaped, unescaped, escaped.replace("/", "\\/"), unescaped.replace("/", "\\/")})
    forms.update({raw.hex(), raw.hex().upper()})
    forms.update(line.rstrip("\r") for line in value.split("\n"))
    for form in _base64_forms(raw):
        forms.add(form)
        forms.update(_wrapped(form))
    return {form for form in forms if len(form) >= MIN_FORM}


def _anchors(value: str) -> list[Anchor]:
    """Anchors of the base64 forms too long to list wrapped."""
    return [
        (ANCHOR, form, i)
        for form in _base64_forms(value.encode())
        if len(form) > WRAP
        for i in range(0, len(form) - ANCHOR + 1, ANCHOR)
    ]


class Masker:
    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._automaton: ahocorasick.Automaton | None = None
        self._longest = 0
        self._carry = ""
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        """Mask these values too (values are never removed: a run keeps masking old ones)."""
        new = set(values) - self._values
        if not new:
            return
        self._values |= new
        automaton = ahocorasick.Automaton()
        longest = 0
        for value in self._values:
            for form in secret_forms(value):
                automaton.add_word(form, len(form))
                longest = max(longest, len(form))
        for anchor in (a for value in self._values for a in _anchors(value)):
            if not automaton.exists(anchor[1][anchor[2] : anchor[2] + ANCHOR]):
                automaton.add_word(anchor[1][anchor[2] : anchor[2] + ANCHOR], anchor)
            # wrapped at 37 columns or more: at most one line break per 37 characters
            longest = max(longest, len(anchor[1]) * 38 // 37 + 1)
        if longest == 0:
            return
        automaton.make_automaton()
        self._automaton = automaton
        self._longest = longest

    def mask(self, text: str) -> str:
        """`text` with every form of every value replaced by [MASKED]."""
        masked, _ = self._mask(text, len(text))
        return masked

    def feed(self, text: str) -> str:
        """Mask streamed text; returns what is settled, keeping back a possible partial match."""
        if self._automaton is None:
            return text
        buffer = self._carry + text
        settled, self._carry = self._mask(buffer, len(buffer) - self._longest + 1)
        return settled

    def settle(self, text: str) -> tuple[str, str]:
        """`text` masked up to where a form of a value could still begin, and the rest
        (unmasked): a stream may be cut after the first part, never through a value."""
        if self._automaton is None:
            return text, ""
        return self._mask(text, len(text) - self._longest + 1)

    def flush(self) -> str:
        """The rest of the stream, masked."""
        rest, self._carry = self.mask(self._carry), ""
        return rest

    def _mask(self, text: str, limit: int) -> tuple[str, str]:
        """Mask matches starting before `limit` (and any overlapping those); return (masked
        text up to there, the rest)."""
        if self._automaton is None:
            return text, ""
        spans = []
        for end, value in self._automaton.iter_long(text):
            if isinstance(value, int):
                spans.append((end - value + 1, end + 1))
            else:
                spans.append(_across_breaks(text, end + 1 - ANCHOR, value))
        spans.sort()
        out, pos = [], 0
        for start, stop in spans:
            if start >= pos:
                if start >= limit:
                    break
                out.append(text[pos:start])
                out.append(MASK)
            pos = max(pos, stop)
        cut = max(pos, limit)
        out.append(text[pos:cut])
        return "".join(out), text[cut:]


def _across_breaks(text: str, at: int, anchor: Anchor) -> tuple[int, int]:
    """The span of the whole form around the anchor found at `at`, its pieces parted by
    single line breaks; the anchor's own span when the form is not all there."""
    length, form, offset = anchor
    start = _extend_left(text, at, form[:offset])
    stop = _extend_right(text, at + length, form[offset + length :])
    if start is None or stop is None:
        return at, at + length
    return start, stop


def _extend_left(text: str, pos: int, want: str) -> int | None:
    """Where `want` starts if it ends at `pos`, pieces parted by single line breaks."""
    first = True
    while want:
        line_start = text.rfind("\n", 0, pos) + 1
        piece = min(pos - line_start, len(want))
        if (piece == 0 and not first) or text[pos - piece : pos] != want[len(want) - piece :]:
            return None
        want, pos, first = want[: len(want) - piece], pos - piece, False
        if want:
            if pos != line_start or pos == 0:
                return None
            pos -= 1
    return pos


def _extend_right(text: str, pos: int, want: str) -> int | None:
    """Where `want` ends if it starts at `pos`, pieces parted by single line breaks."""
    first = True
    while want:
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end < 0 else line_end
        piece = min(line_end - pos, len(want))
        if (piece == 0 and not first) or text[pos : pos + piece] != want[:piece]:
            return None
        want, pos, first = want[piece:], pos + piece, False
        if want:
            if pos != line_end or pos == len(text):
                return None
            pos += 1
    return pos
