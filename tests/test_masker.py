"""The masker, in the manner of GitLab Runner's fuzz test: overlapping and long secrets written
in random chunk sizes never survive, and all other text survives unchanged."""

from __future__ import annotations

import base64
import hashlib
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
        quote(value, safe="").replace("%2F", "%2f").replace("%40", "%40"),
        json.dumps(value)[1:-1],
        json.dumps(value)[1:-1].replace("/", "\\/"),
        value.encode().hex(),
        value.encode().hex().upper(),
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


def gnu_base64(data: bytes) -> str:
    """What GNU `base64` prints: lines of 76 characters."""
    return base64.encodebytes(data).decode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(4, 400),
    seed=st.binary(min_size=16, max_size=16),
    before=st.binary(max_size=300),
    cuts=st.lists(st.integers(1, 200), max_size=20),
)
def test_base64_wrapped_at_76_columns_is_masked_wherever_the_lines_break(
    size: int, seed: bytes, before: bytes, cuts: list[int]
) -> None:
    secret = hashlib.shake_256(seed).hexdigest(size)[:size]
    wrapped = gnu_base64(before + secret.encode() + b"\n")
    masked = stream(wrapped, [secret], cuts)
    # The characters that depend on the secret alone, and where the line breaks put them.
    first, last = (len(before) * 8 + 5) // 6, (len(before) + size) * 8 // 6 - 1
    start, stop = first + first // 76, last + last // 76 + 1
    assert masked == wrapped[:start] + MASK + wrapped[stop:]


def test_long_base64_wrapped_at_another_width_is_masked_too() -> None:
    secret = hashlib.shake_256(b"w").hexdigest(60)
    encoded = base64.b64encode(secret.encode()).decode()
    pem = "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    assert Masker([secret]).mask(f"-----\n{pem}\n-----") == f"-----\n{MASK}\n-----"
