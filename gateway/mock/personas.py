"""The mock's identity referential: public CNDA test personas and the matching rules.

The table holds the public test identities of the CNDA qualification
platform plus homonyms of our own (DE VINCI), so every result code of
``rechercherInsAvecTraitsIdentite`` can be reached: 00 (one), 01 (none,
e.g. HOUILLES which has no INS), 02 (several, DE VINCI without birth place).
Issue 8 added twins sharing their first first name (JUMELLES, for the CR 02
refinement), a former INS without ``Cle`` (ANCIENCLE) and a demonstration NIR
(DEMONSTRATION, OID ``.11``).

Issue 16: the personas answer like the real teleservice's recorded answers
(padoa/tlsi-ins, ``src/ins/fixtures``; our rewritings in
``tests/fixtures/recorded``). Live answers carry ``ListePrenom`` and no
``Prenom``: only the personas whose answer is a CNDA test file with ``Prenom``
(PROVISOIRE, test 2.05; HERMANN, test 2.08) keep it. History entries are those
recorded, dated where the recording is; the active INS is repeated in the
history only where a recording does so (HERMANN). The CNDA flow personas of
that fixture set are all here (HERMANN GATIEN; VANDERMONDE ARIANA, whose
search finds the service unavailable).

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
    with_prenom: bool = False  # True: TIQ has Prenom too, as the CNDA test files (2.05, 2.08)
    unavailable: bool = False  # True: searching these traits finds the service unavailable

    def answers_traits(self, query: TraitsQuery) -> bool:
        """An INS, and the traits designate this persona (:meth:`designated_by`)."""
        return self.active is not None and self.designated_by(query)

    def designated_by(self, query: TraitsQuery) -> bool:
        """Same birth name, sex, birth date; first name(s) known; birth place equal if given."""
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


def unavailable_for(query: TraitsQuery) -> bool:
    """True when the traits designate a persona the service fails on (VANDERMONDE)."""
    return any(p.unavailable and p.designated_by(query) for p in PERSONAS)


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
    Persona("ADRUN", ("ZOE",), "F", "1975-12-31", "63220", _ins("2751263220749", "74")),
    Persona("TCHITCHI", ("CATARINA", "BELLA"), "F", "1936-06-21", "63220",
            _ins("2360663220836", "56")),
    # The recorded history: the first entry dated (its end before its start, as recorded),
    # the second not.
    Persona("ECETINSI", ("PIERRE-ALAIN", "MURIEL", "FLORIANT"), "M", "2009-07-14", "63220",
            _ins("1090763220834", "89"),
            history=(_ins("2090763220834", "39", start="2019-03-01", end="2019-02-28"),
                     _ins("2090663220123", "55"))),
    Persona("CORSE", ("ANTHONY",), "M", "1980-03-02", "2B020", _ins("180032B020401", "23")),
    Persona("NESSI", ("MICHELANGELO", "ANTHONY"), "M", "2010-08-07", "63220",
            _ins("1100863220830", "60"),
            vitale_cards=(VitaleCard(NESSI_PARENT_MATRICULE, NESSI_PARENT_KEY, 2),)),
    # CNDA test 2.05: a NIA, answered with Prenom.
    Persona("PROVISOIRE", ("MATRICULE",), "M", "2009-07-01", "63220",
            _ins("1090763220888", "35", oid=OID_NIA), with_prenom=True),
    # CNDA test 2.08: with Prenom, the active INS repeated in the undated history, keys as
    # recorded (they fail the 97-mod check: the teleservice is the authority).
    Persona("HERMANN", ("GATIEN",), "M", "1981-03-24", "63220", _ins("1810363220456", "60"),
            history=(_ins("1810363220456", "60"), _ins("2810363220456", "10")),
            with_prenom=True),
    # CNDA flow: searching her finds the service temporarily unavailable (a Receiver fault).
    Persona("VANDERMONDE", ("ARIANA",), "F", "1995-06-17", "77284", None, unavailable=True),
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
