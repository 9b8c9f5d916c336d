"""Text a database can store, and decoded JSON that is safe to walk.

SQLite and PostgreSQL store UTF-8, so a string with an unpaired surrogate (JSON `"\\ud800"`
decodes to one) cannot be written at all, and PostgreSQL refuses NUL in text and in `jsonb`.
Input is checked here at the edge, so such a string is refused with a 4xx naming its field
instead of failing as a 500 deep in a query. The walks are iterative: nesting costs no stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.errors import Invalid


def only(body: object, *fields: str) -> dict[str, Any]:
    """`body` if it is a JSON object naming no field but `fields`; else a 422 naming the field."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}", field=unknown[0])
    return body


def storable(text: str) -> bool:
    """Whether `text` has no NUL and no unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _nodes(data: object) -> Iterator[tuple[str, int, object]]:
    """(path, depth, value) of every value in `data`; a key comes as its own `str` node at
    its object's path, before its value."""
    stack: list[tuple[str, int, object]] = [("", 0, data)]
    while stack:
        path, depth, value = stack.pop()
        yield path, depth, value
        if isinstance(value, dict):
            children = []
            for key, item in value.items():
                yield path, depth, key
                children.append((f"{path}.{key}" if path else str(key), depth + 1, item))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            items = [(f"{path}[{i}]", depth + 1, item) for i, item in enumerate(value)]
            stack.extend(reversed(items))


def unstorable(data: object) -> str | None:
    """The path (`stages[0].run`, `value`) of the first string in decoded JSON `data`, a key
    or a value, that cannot be stored; `body` for a key of the top object; None when all can.
    A path is made of keys already checked, so it is itself storable."""
    for path, _depth, value in _nodes(data):
        if isinstance(value, str) and not storable(value):
            return path or "body"
    return None


def depth(data: object) -> int:
    """How deeply decoded JSON `data` nests: 0 for a scalar, 1 for `{}` or `[1]`."""
    deepest = 0
    for _path, level, value in _nodes(data):
        deepest = max(deepest, level + 1 if isinstance(value, dict | list) else level)
    return deepest
