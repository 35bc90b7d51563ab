"""INS matricules: their key and the kind of identifier an OID designates.

The key is ``97 - (number mod 97)`` over the 13 characters, where the Corsican
departments ``2A``/``2B`` count as ``19``/``18``. OIDs are passed through as
the teleservice gave them; this module only names their kind.
"""

from __future__ import annotations

from typing import Final

OID_NIR: Final = "1.2.250.1.213.1.4.8"
OID_NIA: Final = "1.2.250.1.213.1.4.9"
OID_TEST_NIR: Final = "1.2.250.1.213.1.4.10"
OID_TEST_NIA: Final = "1.2.250.1.213.1.4.11"

_CORSICA: Final = {"2A": "19", "2B": "18"}

_KIND_BY_OID: Final = {
    OID_NIR: ("NIR", False),
    OID_NIA: ("NIA", False),
    OID_TEST_NIR: ("NIR", True),
    OID_TEST_NIA: ("NIA", True),
}


def oid_kind(oid: str) -> str | None:
    """``NIR`` or ``NIA`` for a known INS OID, ``None`` otherwise."""
    known = _KIND_BY_OID.get(oid)
    return known[0] if known else None


def oid_is_test(oid: str) -> bool | None:
    """Whether the OID designates a test identifier; ``None`` for an unknown OID."""
    known = _KIND_BY_OID.get(oid)
    return known[1] if known else None


def compute_key(matricule: str) -> str:
    """The 2-digit key of a 13-character matricule (``ValueError`` if it is not one)."""
    if len(matricule) != 13:
        raise ValueError("a matricule has 13 characters")
    department = matricule[5:7].upper()
    digits = matricule[:5] + _CORSICA.get(department, department) + matricule[7:]
    if not digits.isdigit():
        raise ValueError("a matricule has digits only, but for 2A/2B as department")
    return f"{97 - int(digits) % 97:02d}"


def key_matches(matricule: str, key: str) -> bool:
    try:
        return compute_key(matricule) == key
    except ValueError:
        return False
