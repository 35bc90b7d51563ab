"""Request bodies, as the keyword arguments zeep expects for our WSDL's operations.

Kept apart from zeep itself so the mapping from :class:`~gateway.models.TraitsQuery`
to the contract's element names is a pure function, tested without a client.
"""

from __future__ import annotations

from gateway.models import TraitsQuery


def traits_search_body(query: TraitsQuery, first_names: str) -> dict[str, object]:
    """Arguments of ``rechercherInsAvecTraitsIdentite`` (body ``RECSANSVITALE``).

    ``first_names`` is what this attempt sends, not ``query.first_names``: the
    INSi search procedure first sends all first names joined by a space, then
    retries with the first one alone, each time in a single ``Prenom`` element
    (the contract allows several, the teleservice expects one). The caller
    decides the attempt; this function only shapes it.

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
