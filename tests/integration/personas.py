"""Expected answers for the test personas, written from the published CNDA table.

This is the tests' own copy of the facts (issue table, public test
identities), deliberately not imported from the mock: a mistake in the
mock's data must show up as a failing test, not be copied into the
expectation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NIR = "1.2.250.1.213.1.4.8"
NIA = "1.2.250.1.213.1.4.9"
DEMO_NIR = "1.2.250.1.213.1.4.11"  # FR Core INS-NIR-DEMO: a fictitious patient's NIR


@dataclass(frozen=True)
class Expected:
    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    place: str | None
    matricule: str | None  # None: the teleservice knows no INS for this person
    key: str | None = None
    oid: str = NIR
    history: tuple[tuple[str, str | None], ...] = ()
    card: dict[str, Any] | None = field(default=None)  # Vitale card data, when there is one

    @property
    def id(self) -> str:
        return f"{self.birth_name} {self.first_names[0]}"

    def traits(self, *, with_place: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "birth_name": self.birth_name,
            "first_names": list(self.first_names),
            "sex": self.sex,
            "birth_date": self.birth_date,
        }
        if with_place and self.place:
            body["birth_place"] = self.place
        return body


PERSONAS = [
    Expected(
        "ADRTROIS",
        ("DOMINIQUE",),
        "F",
        "1997-02-26",
        "2A020",
        "297022A020778",
        "78",
        card={"beneficiary_matricule": "297022A02077878", "birth_rank": "1"},
    ),
    Expected("ADRTROIS", ("TOUSSAINT",), "M", "1960-01-01", "2B020", "160012B020777", "13"),
    Expected("ADRUN", ("ZOE",), "F", "1975-12-31", "63220", "2751263220749", "74"),
    Expected("TCHITCHI", ("CATARINA", "BELLA"), "F", "1936-06-21", "63220", "2360663220836", "56"),
    Expected(
        "ECETINSI",
        ("PIERRE-ALAIN", "MURIEL", "FLORIANT"),
        "M",
        "2009-07-14",
        "63220",
        "1090763220834",
        "89",
        history=(("2090763220834", "39"), ("2090663220123", "55")),
    ),
    Expected("CORSE", ("ANTHONY",), "M", "1980-03-02", "2B020", "180032B020401", "23"),
    Expected(
        "NESSI",
        ("MICHELANGELO", "ANTHONY"),
        "M",
        "2010-08-07",
        "63220",
        "1100863220830",
        "60",
        card={"holder_matricule": "178056322045760", "birth_rank": "2"},
    ),
    Expected(
        "PROVISOIRE", ("MATRICULE",), "M", "2009-07-01", "63220", "1090763220888", "35", oid=NIA
    ),
    Expected("HOUILLES", ("PIERRE", "PAUL", "JACQUES"), "M", "1993-01-27", None, None),
    Expected("LUNAIRE", ("MARIE",), "F", "1950-00-00", "99350", "2509999350123", "94"),
    # Issue 8: twins sharing MARIE (a CR 02 alone), told apart by the whole list.
    Expected("JUMELLES", ("MARIE", "CLAIRE"), "F", "2001-04-12", "63220", "2010463220101", "49"),
    Expected("JUMELLES", ("MARIE", "ANNE"), "F", "2001-04-12", "63220", "2010463220102", "48"),
    # Issue 8: a former INS sent without its Cle.
    Expected(
        "ANCIENCLE",
        ("LOUISE",),
        "F",
        "1970-05-20",
        "75056",
        "2700575056321",
        "90",
        history=(("1700575056321", None),),
    ),
    Expected(
        "DEMONSTRATION", ("PAUL",), "M", "1985-01-15", "63220", "1850163220555", "40", oid=DEMO_NIR
    ),
]
FOUND = [p for p in PERSONAS if p.matricule]
WITH_CARD = [p for p in PERSONAS if p.card]

# CNDA test 2.08 (issue 16): answered with Prenom, its history repeating the active INS, keys
# as recorded (they fail the 97-mod check). Kept out of PERSONAS: the gateway flags its keys
# and drops the repeated entry, which the tests iterating PERSONAS do not expect.
HERMANN = Expected(
    "HERMANN",
    ("GATIEN",),
    "M",
    "1981-03-24",
    "63220",
    "1810363220456",
    "60",
    history=(("1810363220456", "60"), ("2810363220456", "10")),
)
# Personas whose recorded answer (a CNDA test file) carries Prenom; every other is live-style.
WITH_PRENOM = frozenset({"PROVISOIRE", "HERMANN"})


@dataclass(frozen=True)
class FlowStep:
    """One search of a CNDA flow: the first name sent, and the CR (or fault code) answered."""

    first_name: str
    outcome: str  # "00", "01", or the siram:Erreur code of the fault


@dataclass(frozen=True)
class CndaFlow:
    """A CNDA flow of padoa/tlsi-ins' virtual-mode fixture set: searches in order."""

    birth_name: str
    sex: str
    birth_date: str
    steps: tuple[FlowStep, ...]


# From padoa/tlsi-ins src/ins/fixtures/virtual-mode (fetchRequestFlow of each persona): no
# birth place is sent, one Prenom per search.
CNDA_FLOWS = (
    CndaFlow("ADRUN", "F", "1975-12-31", (FlowStep("ZOE", "00"),)),
    CndaFlow("TCHITCHI", "F", "1936-06-21", (FlowStep("OLA", "01"), FlowStep("CATARINA", "00"))),
    CndaFlow(
        "HOUILLES",
        "M",
        "1993-01-27",
        tuple(FlowStep(f, "01") for f in ("PIERRE", "PAUL", "JACQUES", "PIERRE PAUL JACQUES")),
    ),
    CndaFlow("CORSE", "M", "1980-03-02", (FlowStep("ANTHONY", "00"),)),
    CndaFlow("ECETINSI", "M", "2009-07-14", (FlowStep("PIERRE-ALAIN", "00"),)),
    CndaFlow("HERMANN", "M", "1981-03-24", (FlowStep("GATIEN", "00"),)),
    CndaFlow("NESSI", "M", "2010-08-07", (FlowStep("MICHELANGELO", "00"),)),
    CndaFlow("VANDERMONDE", "F", "1995-06-17", (FlowStep("ARIANA", "insi_102"),)),
)
