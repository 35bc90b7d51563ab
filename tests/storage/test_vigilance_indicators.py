"""The weekly indicators: answers from the journal, events from their table, folded by ISO week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.storage import AuditJournal, Database
from gateway.storage.audit import AuditEntry
from gateway.vigilance.indicators import WEEKS, iso_week, svg_chart, weekly
from gateway.vigilance.store import EventStore, NewEvent

NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)  # a Wednesday of ISO week 50


def _answered(journal: AuditJournal, request_id: str, outcome: str, app: str = "dpi") -> None:
    """An upstream call as the trail journals it: its intent, then its outcome."""
    base = {"request_id": request_id, "operation": "rechercherInsAvecTraitsIdentite", "app": app}
    intent = journal.append(AuditEntry(outcome="unknown", **base))
    journal.append(AuditEntry(outcome=outcome, ref_seq=intent.seq, ref_hash=intent.hash, **base))


def test_share_and_counts_per_application_and_week(database: Database) -> None:
    journal = AuditJournal(database, pseudonym_key=b"k" * 32, clock=lambda: NOW)
    for request_id, outcome in (("r1", "00"), ("r2", "00"), ("r2", "01"), ("r3", "02")):
        _answered(journal, request_id, outcome)  # r2: two attempts, one answer
    _answered(journal, "r4", "fault:DESIR_500")  # no answer: not counted
    store = EventStore(database, clock=lambda: NOW)
    store.record([NewEvent(app="dpi", kind="mismatch", request_id="r1", source="json")])
    store.record([NewEvent(app="dpi", kind="multiple", request_id="r3", source="soap")])
    earlier = EventStore(database, clock=lambda: NOW - timedelta(weeks=WEEKS + 1))
    earlier.record([NewEvent(app="dpi", kind="mismatch", request_id="old", source="json")])

    figures = weekly(database, store, now=NOW)

    assert len(figures.weeks) == WEEKS
    assert figures.weeks[-1] == iso_week(NOW) == "2026-W50"
    week = figures.apps["dpi"]["2026-W50"]
    assert week.answers == 3
    assert dict(week.events) == {"mismatch": 1, "multiple": 1}
    assert round(week.share(), 1) == 66.7
    assert figures.series("mismatch")["dpi"] == [0.0] * (WEEKS - 1) + [1.0]


def test_the_chart_is_an_accessible_svg_without_script() -> None:
    chart = svg_chart("Discordances", ("2026-W49", "2026-W50"), {"dpi": [0.0, 2.0], "<x>": [1, 1]})

    assert chart.startswith('<svg role="img" aria-label="Discordances"')
    assert chart.count("<polyline") == 2
    assert "<script" not in chart
    assert "&lt;x&gt;" in chart  # names are escaped
