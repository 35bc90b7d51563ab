"""Request bodies, as the keyword arguments zeep expects for our WSDL's operations.

Kept apart from zeep itself so the mapping from :class:`~gateway.models.TraitsQuery`
to the contract's element names is a pure function, tested without a client.
"""

from __future__ import annotations

from gateway.models import MatriculeRef, TraitsQuery, VitaleQuery


def traits_search_body(query: TraitsQuery, first_names: str) -> dict[str, object]:
    """Arguments of ``rechercherInsAvecTraitsIdentite`` (body ``RECSANSVITALE``).

    ``first_names`` is what this attempt sends, not ``query.first_names``: the
    search procedure (:mod:`gateway.ins.strategy`) sends the first first name
    alone, then each following one, then the whole list joined by spaces,
    each time in a single ``Prenom`` element (the contract allows several,
    the teleservice expects one). The caller decides the attempt; this
    function only shapes it.

    ``LieuNaissance`` is optional in the contract and omitted when unknown
    rather than sent empty, which the teleservice would read as a criterion.
    """
    body: dict[str, object] = {
        "NomNaissance": query.birth_name,
        "Prenom": [first_names],
        "Sexe": query.sex,
        "DateNaissance": query.birth_date,
    }
    if query.birth_place:
        body["LieuNaissance"] = query.birth_place
    return body


def vitale_search_body(query: VitaleQuery) -> dict[str, object]:
    """Arguments of ``rechercherInsAvecCarteVitale`` (body ``RECVITALE``).

    ``MatriculeIndividu`` is the beneficiary's own matricule and
    ``MatriculeOD`` the card holder's (the "ouvrant droit"); the card gives
    at least one. ``RangNaissance`` tells twins on one card apart.
    """
    body: dict[str, object] = {}
    if query.beneficiary:
        body["MatriculeIndividu"] = _matricule(query.beneficiary)
    if query.holder:
        body["MatriculeOD"] = _matricule(query.holder)
    body.update(
        NomNaissance=query.birth_name,
        DateNaissance=query.birth_date,
        RangNaissance=query.birth_rank,
    )
    return body


def _matricule(ref: MatriculeRef) -> dict[str, str]:
    return {"NumIdentifiant": ref.number, "Cle": ref.key}
