"""The line splitter: however output is chunked, the same lines come out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.logs.records import MAX_LINE_CHARS, LineSplitter, LogBatch, utf8_decoder


def split_all(chunks: list[bytes]) -> list[str]:
    decoder, splitter = utf8_decoder(), LineSplitter()
    lines = [line for chunk in chunks for line in splitter.feed(decoder.decode(chunk))]
    return lines + splitter.feed(decoder.decode(b"", final=True)) + splitter.close()


@given(st.binary(max_size=2000), st.lists(st.integers(1, 50), max_size=40))
def test_chunking_never_changes_the_lines(data: bytes, cuts: list[int]) -> None:
    chunks, rest = [], data
    for n in cuts:
        chunks.append(rest[:n])
        rest = rest[n:]
    chunks.append(rest)
    assert split_all(chunks) == split_all([data])


@given(
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]),
        max_size=200,
    )
)
def test_utf8_text_survives_byte_by_byte(text: str) -> None:
    data = (text + "\n").encode()
    assert split_all([data[i : i + 1] for i in range(len(data))]) == [text]


def test_carriage_returns_keep_what_a_terminal_shows() -> None:
    assert split_all([b"10%\r50%\r100%\nnext\r\n"]) == ["100%", "next"]


def test_long_lines_are_cut_into_pieces() -> None:
    lines = split_all([b"y" * (MAX_LINE_CHARS * 2 + 5) + b"\nshort\n"])
    assert [len(x) for x in lines] == [MAX_LINE_CHARS, MAX_LINE_CHARS, 5, 5]


def test_invalid_bytes_become_replacement_characters() -> None:
    assert split_all([b"a\xff", b"\xfeb\n"]) == ["a\ufffd\ufffdb"]


def test_batch_after_a_cursor_keeps_only_later_lines() -> None:
    batch = LogBatch("lines", 5, 8, "e\nf\ng\nh")
    assert batch.after(3) is batch
    assert batch.after(6) == LogBatch("lines", 7, 8, "g\nh")
    assert batch.after(8) is None
