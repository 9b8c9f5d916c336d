"""Masking secret values out of text, including text that arrives in pieces.

Each secret is searched in every form a program might print it: as is, each line of a
multi-line value, base64 at the three byte alignments, URL-encoded and JSON-escaped. Matches
are leftmost-longest (Aho-Corasick, `pyahocorasick`). Streamed text keeps its last
`longest form - 1` characters back until more arrives, so a value split across reads is still
caught (the leak GitLab Runner had with secrets straddling its read buffer).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import ahocorasick  # type: ignore[import-not-found]

MASK = "[MASKED]"
MIN_FORM = 4


def secret_forms(value: str) -> set[str]:
    """Every form of `value` to mask; forms shorter than 4 characters cannot be masked."""
    raw = value.encode()
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    forms.update(line.rstrip("\r") for line in value.split("\n"))
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start, end = (8 * offset + 5) // 6, ((offset + len(raw)) * 8) // 6
        forms.add(encoded[start:end])
    return {form for form in forms if len(form) >= MIN_FORM}


class Masker:
    def __init__(self, values: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._automaton: ahocorasick.Automaton | None = None
        self._longest = 0
        self._carry = ""
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        """Mask these values too (values are never removed: a run keeps masking old ones)."""
        new = set().union(*(secret_forms(v) for v in values)) - self._forms
        if not new:
            return
        self._forms |= new
        automaton = ahocorasick.Automaton()
        for form in self._forms:
            automaton.add_word(form, len(form))
        automaton.make_automaton()
        self._automaton = automaton
        self._longest = max(map(len, self._forms))

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

    def flush(self) -> str:
        """The rest of the stream, masked."""
        rest, self._carry = self.mask(self._carry), ""
        return rest

    def _mask(self, text: str, limit: int) -> tuple[str, str]:
        """Mask matches starting before `limit`; return (masked text up to there, the rest)."""
        if self._automaton is None:
            return text, ""
        out, pos = [], 0
        for end, length in self._automaton.iter_long(text):
            start = end - length + 1
            if start >= limit:
                break
            out.append(text[pos:start])
            out.append(MASK)
            pos = end + 1
        cut = max(pos, limit)
        out.append(text[pos:cut])
        return "".join(out), text[cut:]
