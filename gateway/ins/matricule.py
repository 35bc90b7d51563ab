"""INS matricules: their key and the kind of identifier an OID designates.

The key is ``97 - (number mod 97)`` over the 13 characters, where the Corsican
departments ``2A``/``2B`` count as ``19``/``18``. OIDs are passed through as
the teleservice gave them; this module only names their kind.

The four INS OIDs are those of the FR Core profile ``FRCorePatientINSProfile``
(Interop-Sante/hl7.fhir.fr.core, ``input/fsh/profiles/FRCorePatientINSProfile.fsh``,
the ``identifier`` slices): ``.8`` INS-NIR, ``.9`` INS-NIA, ``.10`` INS-NIR-TEST
("patient fictif de test"), ``.11`` INS-NIR-DEMO ("patient fictif de
démonstration"). ``.11`` is a NIR, not a NIA; both ``.10`` and ``.11`` designate
fictitious patients, so ``test`` is true for both.
"""

from __future__ import annotations

from typing import Final

OID_NIR: Final = "1.2.250.1.213.1.4.8"
OID_NIA: Final = "1.2.250.1.213.1.4.9"
OID_TEST_NIR: Final = "1.2.250.1.213.1.4.10"
OID_DEMO_NIR: Final = "1.2.250.1.213.1.4.11"

_CORSICA: Final = {"2A": "19", "2B": "18"}

# OID -> (kind, fictitious patient, FR Core identifier type code in fr-core-cs-v2-0203)
_KIND_BY_OID: Final = {
    OID_NIR: ("NIR", False, "INS-NIR"),
    OID_NIA: ("NIA", False, "INS-NIA"),
    OID_TEST_NIR: ("NIR", True, "INS-NIR-TEST"),
    OID_DEMO_NIR: ("NIR", True, "INS-NIR-DEMO"),
}


def oid_kind(oid: str) -> str | None:
    """``NIR`` or ``NIA`` for a known INS OID, ``None`` otherwise."""
    known = _KIND_BY_OID.get(oid)
    return known[0] if known else None


def oid_is_test(oid: str) -> bool | None:
    """Whether the OID designates a test identifier; ``None`` for an unknown OID."""
    known = _KIND_BY_OID.get(oid)
    return known[1] if known else None


def oid_identifier_type(oid: str) -> str | None:
    """The FR Core identifier type code of an OID (``INS-NIR``, ``INS-NIR-DEMO``...)."""
    known = _KIND_BY_OID.get(oid)
    return known[2] if known else None


def compute_key(matricule: str) -> str:
    """The 2-digit key of a 13-character matricule (``ValueError`` if it is not one)."""
    if len(matricule) != 13:
        raise ValueError("a matricule has 13 characters")
    department = matricule[5:7].upper()
    digits = matricule[:5] + _CORSICA.get(department, department) + matricule[7:]
    if not digits.isdigit():
        raise ValueError("a matricule has digits only, but for 2A/2B as department")
    return f"{97 - int(digits) % 97:02d}"


def key_matches(matricule: str, key: str | None) -> bool:
    """Whether ``key`` is the key of ``matricule`` (never for a missing key)."""
    if key is None:
        return False
    try:
        return compute_key(matricule) == key
    except ValueError:
        return False
