"""Which first names a traits search sends, attempt after attempt.

The teleservice matches ``Prenom`` against one of the official first names
or the whole list, while hospital records often hold first names in another
order or with extras (``OLA CATARINA BELLA`` for an official
``CATARINA BELLA``). The INS guide's procedure, our default, tries the first
first name alone, then each following one alone, then the full list.

The service goes on after a CR 01 (none found) only. A CR 02 (several
identities, e.g. twins sharing their first first name) is refined once: the
whole list of birth first names is sent (with the birth place, when the caller
gave one: every call carries it) before the answer is ``multiple``
(:func:`refinement`). The search stops at a CR 00, at a CR 02 that the
refinement did not resolve, or at a fault.
"""

from __future__ import annotations

import enum


class FirstNameStrategy(enum.StrEnum):
    """``INSI_FIRST_NAME_STRATEGY``."""

    PROGRESSIVE = "progressive"  # first, each following alone, then the full list
    FULL_LIST = "full-list"  # the full list only, one attempt


def attempts(first_names: tuple[str, ...], strategy: FirstNameStrategy) -> list[str]:
    """The ``Prenom`` values to send, in order, without repeats."""
    full = " ".join(first_names)
    if strategy is FirstNameStrategy.FULL_LIST:
        return [full]
    candidates = [*first_names, full]
    return list(dict.fromkeys(candidates))


def refinement(sent: str, first_names: tuple[str, ...]) -> str | None:
    """After a CR 02 for ``sent``: the full list to send, or ``None`` if it was already sent."""
    full = " ".join(first_names)
    return full if sent != full else None
