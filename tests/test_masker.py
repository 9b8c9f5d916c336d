"""The masker, in the manner of GitLab Runner's fuzz test: overlapping and long secrets written
in random chunk sizes never survive, and all other text survives unchanged."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.masker import MASK, Masker, secret_forms

# No "[", "]" or letters of MASK: a secret must not be made of the replacement text itself.
ALPHABET = "cerst0123456789xyz-_"
OVERLAPPING = ["secret", "ssecret", "secrett"]


def reference(text: str, values: list[str]) -> str:
    """Leftmost-longest replacement over the whole text at once, with the standard library."""
    forms = set().union(*(secret_forms(v) for v in values))
    pattern = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, MASK, text) if forms else text


def stream(text: str, values: list[str], cuts: list[int]) -> str:
    masker, out, rest = Masker(values), [], text
    for n in cuts:
        out.append(masker.feed(rest[:n]))
        rest = rest[n:]
    out.append(masker.feed(rest))
    out.append(masker.flush())
    return "".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(
        st.one_of(st.sampled_from(OVERLAPPING), st.text(ALPHABET, max_size=12)), max_size=30
    ),
    cuts=st.lists(st.integers(1, 40), max_size=30),
)
def test_overlapping_secrets_never_survive_any_chunking(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    masked = stream(text, OVERLAPPING, cuts)
    assert masked == reference(text, OVERLAPPING)
    for secret in OVERLAPPING:
        assert secret not in masked


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([1024, 4096, 8192]),
    seed=st.binary(min_size=16, max_size=16),
    before=st.text(ALPHABET, max_size=50),
    after=st.text(ALPHABET, max_size=50),
    cuts=st.lists(st.integers(1, 5000), min_size=1, max_size=20),
)
def test_long_secrets_straddling_any_read_boundary_are_masked(
    size: int, seed: bytes, before: str, after: str, cuts: list[int]
) -> None:
    secret = (seed.hex() * (size // 32 + 1))[:size]
    text = before + secret + after + secret[: size // 2]
    masked = stream(text, [secret], cuts)
    assert secret not in masked
    assert masked == before + MASK + after + secret[: size // 2]


def test_every_form_is_masked() -> None:
    value = 'p@ss w/rd+"quoted"\nsecond-line'
    forms = [
        value,
        "second-line",
        quote(value, safe=""),
        json.dumps(value)[1:-1],
        base64.b64encode(value.encode()).decode(),
        base64.b64encode(b"x" + value.encode()).decode(),
        base64.b64encode(b"xy" + value.encode()).decode(),
    ]
    masker = Masker([value])
    for form in forms:
        masked = masker.mask(f"<{form}>")
        assert form not in masked and MASK in masked, form


def test_values_too_short_to_mask_are_left_alone() -> None:
    assert "abc" not in secret_forms("abc")
    assert Masker(["abc"]).mask("abc abcd") == "abc abcd"
