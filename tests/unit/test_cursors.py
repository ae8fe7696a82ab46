"""Signed cursors (``services.plumbing.cursors``): a position comes back as it was issued,
and only from the list and the secret that issued it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.plumbing.cursors import Cursors, InvalidCursor

SECRET = "a test secret that is at least thirty-two characters"
positions = st.lists(
    st.one_of(st.integers(), st.text(max_size=40), st.booleans(), st.none()), max_size=4
)


@given(position=positions)
def test_a_position_comes_back_as_it_was_issued(position: list[object]) -> None:
    cursors = Cursors(SECRET, "queue-IDVA")
    issued = cursors.issue(position)
    assert all(c.isalnum() or c in "-_." for c in issued)  # travels in a URL as it is
    assert cursors.read(issued) == position


def test_a_cursor_is_read_only_by_the_list_and_secret_that_issued_it() -> None:
    issued = Cursors(SECRET, "queue-IDVA").issue([2, "2026-11-30T10:00:00+00:00", "ab"])
    with pytest.raises(InvalidCursor):
        Cursors(SECRET, "queue-ISVA").read(issued)
    with pytest.raises(InvalidCursor):
        Cursors(SECRET + "!", "queue-IDVA").read(issued)
    with pytest.raises(InvalidCursor):
        Cursors(SECRET, "queue-IDVA").read(issued[:-1])


@given(cursor=st.text(max_size=200))
def test_anything_else_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursors(SECRET, "queue-IDVA").read(cursor)
