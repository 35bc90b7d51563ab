"""Which first names a traits search sends, attempt after attempt.

The teleservice matches ``Prenom`` against one of the official first names
or the whole list, while hospital records often hold first names in another
order or with extras (``OLA CATARINA BELLA`` for an official
``CATARINA BELLA``). The INS guide's procedure, our default, tries the first
first name alone, then each following one alone, then the full list; the
service stops at the first CR 00, at a CR 02 (the caller must add traits),
or at a fault.
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
