"""Parsing MovieLens titles such as ``"Toy Story (1995)"`` into a title and a year.

GroupLens writes the release year in parentheses at the end of a title. A few titles carry more
than one parenthesised group (``"Land Before Time III: ... (1995) (V)"``, where ``(V)`` marks a
video release) and a few carry no year at all (ml-100k item 267 is ``"unknown"``). The year is
taken from the *last* four-digit group; the rest of the title is kept as written.
"""
from __future__ import annotations

import re

_YEAR = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)")


def split_title_year(raw: str) -> tuple[str, int | None]:
    """Split a GroupLens title into ``(title, year)``; ``year`` is None when the title has none.

    Examples
    --------
    >>> split_title_year("Toy Story (1995)")
    ('Toy Story', 1995)
    >>> split_title_year("Land Before Time III: The Time of the Great Giving (1995) (V)")
    ('Land Before Time III: The Time of the Great Giving (V)', 1995)
    >>> split_title_year("unknown")
    ('unknown', None)
    """
    raw = raw.strip()
    matches = list(_YEAR.finditer(raw))
    if not matches:
        return raw, None
    last = matches[-1]
    title = (raw[: last.start()] + raw[last.end():]).strip()
    return title, int(last.group(1))
