"""The two answers a request gets for a reason of the hub's own, whichever layer finds it:
``NotFound`` (404) and ``Refused`` (409 unless a subclass says otherwise), each with a
sentence the caller can act on. ``services.plumbing.http`` maps both to
``application/problem+json`` in one place, so that no route catches them.

Here rather than in ``services.plumbing``: the domain raises them (a transition not allowed,
a contact standard not met, a key rule broken), and the domain may import ``schemas`` only.
"""

from __future__ import annotations

from typing import Any, ClassVar


class NotFound(Exception):
    """Nothing with that id is available to the caller (404). Without a sentence, the
    service's own says it (``Service.not_found``): one that never tells a caller whether the
    thing exists elsewhere."""

    def __init__(self, sentence: str | None = None) -> None:
        super().__init__(sentence or "not found")
        self.sentence = sentence


class Refused(Exception):
    """The request cannot apply as things stand (RFC 9110: 409 Conflict); ``sentence`` says
    why and what to do instead. A subclass may give its own ``status`` and ``title``, and
    ``extra`` (problem extension members) or ``errors`` (fields at fault): codes and counts
    only, never anything the caller sent."""

    status: ClassVar[int] = 409
    title: ClassVar[str] = "Conflict"
    says: ClassVar[str] = "The request cannot apply as things stand."
    """The sentence when the code that refuses gives none."""

    def __init__(self, sentence: str | None = None) -> None:
        super().__init__(sentence or self.says)
        self.sentence = sentence or self.says

    @property
    def extra(self) -> dict[str, Any] | None:
        return None

    @property
    def errors(self) -> list[dict[str, str]] | None:
        return None


class Invalid(Refused):
    """A value the request gave that a rule outside its schema refuses (422, as a value its
    schema refuses is): ``field`` names where, the sentence says why, the value is not
    repeated."""

    status = 422
    title = "Invalid request"
    field: ClassVar[str] = "(body)"

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"field": self.field, "message": self.sentence}]
