"""The mock's identity referential: public CNDA test personas and the matching rules.

The table holds the public test identities of the CNDA qualification
platform plus two homonyms of our own (DE VINCI), so every result code of
``rechercherInsAvecTraitsIdentite`` can be reached: 00 (one), 01 (none,
e.g. HOUILLES which has no INS), 02 (several, DE VINCI without birth place).
Issue 8 added twins sharing their first first name (JUMELLES, for the CR 02
refinement), an answer without ``Prenom`` (ECETINSI, as the real CNDA answer
is), a former INS without ``Cle`` (ANCIENCLE) and a demonstration NIR
(DEMONSTRATION, OID ``.11``).

Matching is exact on purpose: the gateway must send INS-normalised traits
(upper case, no accents), and a mock that tolerated sloppy input would hide
our mistakes instead of catching them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.ins.matricule import OID_DEMO_NIR, OID_NIA, OID_NIR
from gateway.models import Ins, TraitsQuery


@dataclass(frozen=True, slots=True)
class VitaleCard:
    """Data-hook for ``rechercherInsAvecCarteVitale``: a Vitale card this persona is on.

    ``holder_*`` is the card holder's matricule (``MatriculeOD`` in the request,
    the person opening the rights: the persona herself or e.g. a parent), and
    ``rank`` the persona's ``RangNaissance`` on that card.
    """

    holder_matricule: str
    holder_key: str
    rank: int


@dataclass(frozen=True, slots=True)
class VitaleQuery:
    """What a ``RECVITALE`` request asks, already read from the body."""

    matricules: tuple[tuple[str, str | None], ...]  # (NumIdentifiant, Cle) of Individu / OD
    birth_name: str
    birth_date: str
    rank: str


@dataclass(frozen=True, slots=True)
class Persona:
    """One identity of the referential; ``active`` is None for people without an INS."""

    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None
    active: Ins | None
    history: tuple[Ins, ...] = ()
    vitale_cards: tuple[VitaleCard, ...] = ()
    with_prenom: bool = True  # False: the answer's TIQ has ListePrenom only, as real ones often do

    def answers_traits(self, query: TraitsQuery) -> bool:
        """Same birth name, sex, birth date; first name(s) known; birth place equal if given."""
        if self.active is None:
            return False
        asked = " ".join(query.first_names)
        return (
            query.birth_name == self.birth_name
            and query.sex == self.sex
            and query.birth_date == self.birth_date
            and (asked in self.first_names or asked == " ".join(self.first_names))
            and (query.birth_place is None or query.birth_place == self.birth_place)
        )

    def answers_vitale(self, query: VitaleQuery) -> bool:
        """Same name and date, and one of its cards held by a requested matricule at that rank."""
        if self.active is None:
            return False
        if query.birth_name != self.birth_name or query.birth_date != self.birth_date:
            return False
        return any(_card_matches(card, query) for card in self.vitale_cards)


def _card_matches(card: VitaleCard, query: VitaleQuery) -> bool:
    if not query.rank.isdigit() or int(query.rank) != card.rank:
        return False
    return any(
        number == card.holder_matricule and key in (None, card.holder_key)
        for number, key in query.matricules
    )


def search_by_traits(query: TraitsQuery) -> tuple[Persona, ...]:
    """Every persona the traits designate (0, 1 or several)."""
    return tuple(p for p in PERSONAS if p.answers_traits(query))


def search_by_vitale(query: VitaleQuery) -> tuple[Persona, ...]:
    """Every persona the Vitale card data designate (0, 1 or several)."""
    return tuple(p for p in PERSONAS if p.answers_vitale(query))


def _ins(
    number: str, key: str, oid: str = OID_NIR, start: str | None = None, end: str | None = None
) -> Ins:
    return Ins(matricule=number, key=key, oid=oid, start_date=start, end_date=end)


# Parent of NESSI MICHELANGELO, invented: holds the card the child is on (rank 2).
NESSI_PARENT_MATRICULE = "1780563220457"
NESSI_PARENT_KEY = "60"

# fmt: off
PERSONAS: tuple[Persona, ...] = (
    Persona("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020",
            _ins("297022A020778", "78"),
            vitale_cards=(VitaleCard("297022A020778", "78", 1),)),
    Persona("ADRTROIS", ("TOUSSAINT",), "M", "1960-01-01", "2B020", _ins("160012B020777", "13")),
    # The real service may repeat the active INS in the history: so does the mock, here.
    Persona("ADRUN", ("ZOE",), "F", "1975-12-31", "63220", _ins("2751263220749", "74"),
            history=(_ins("2751263220749", "74", start="1975-12-31"),)),
    Persona("TCHITCHI", ("CATARINA", "BELLA"), "F", "1936-06-21", "63220",
            _ins("2360663220836", "56")),
    # Answered without Prenom, as the recorded CNDA answer for this identity is.
    Persona("ECETINSI", ("PIERRE-ALAIN", "MURIEL", "FLORIANT"), "M", "2009-07-14", "63220",
            _ins("1090763220834", "89"),
            history=(_ins("2090763220834", "39", start="2009-07-14", end="2009-10-31"),
                     _ins("2090663220123", "55", start="2009-11-01", end="2011-03-31")),
            with_prenom=False),
    Persona("CORSE", ("ANTHONY",), "M", "1980-03-02", "2B020", _ins("180032B020401", "23")),
    Persona("NESSI", ("MICHELANGELO", "ANTHONY"), "M", "2010-08-07", "63220",
            _ins("1100863220830", "60"),
            vitale_cards=(VitaleCard(NESSI_PARENT_MATRICULE, NESSI_PARENT_KEY, 2),)),
    Persona("PROVISOIRE", ("MATRICULE",), "M", "2009-07-01", "63220",
            _ins("1090763220888", "35", oid=OID_NIA)),
    Persona("HOUILLES", ("PIERRE", "PAUL", "JACQUES"), "M", "1993-01-27", None, None),
    # Our own homonyms: same birth name, first name, sex and date; only the place differs.
    Persona("DE VINCI", ("LEONARDO",), "M", "2014-02-01", "63220", _ins("1140263220117", "93")),
    Persona("DE VINCI", ("LEONARDO",), "M", "2014-02-01", "75056", _ins("1140275056204", "43")),
    # Ours too: a lunar birth date (month and day unknown), born abroad (99xxx).
    Persona("LUNAIRE", ("MARIE",), "F", "1950-00-00", "99350", _ins("2509999350123", "94")),
    # Ours: the teleservice is the authority, even for a key failing the 97-mod check.
    Persona("CLEFAUSSE", ("JEANNE",), "F", "1985-05-05", "63220", _ins("2850563220999", "00")),
    # Ours: twins sharing their first first name, date and place: MARIE alone is a CR 02,
    # the whole list of birth first names designates one of them.
    Persona("JUMELLES", ("MARIE", "CLAIRE"), "F", "2001-04-12", "63220",
            _ins("2010463220101", "49")),
    Persona("JUMELLES", ("MARIE", "ANNE"), "F", "2001-04-12", "63220",
            _ins("2010463220102", "48")),
    # Ours: a former INS without Cle (optional in INSi_RESULTAT_INS.xsd).
    Persona("ANCIENCLE", ("LOUISE",), "F", "1970-05-20", "75056", _ins("2700575056321", "90"),
            history=(Ins("1700575056321", None, OID_NIR),)),
    # Ours: a fictitious patient with a demonstration NIR (OID .11, FR Core INS-NIR-DEMO).
    Persona("DEMONSTRATION", ("PAUL",), "M", "1985-01-15", "63220",
            _ins("1850163220555", "40", oid=OID_DEMO_NIR)),
)
# fmt: on
