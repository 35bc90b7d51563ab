"""The cell's weekly quality indicators, per application, and their plot (SVG drawn here).

Answers given come from the audit journal (one distinct request per answered call,
outcome a result code), events from ``vigilance_events``: both survive restarts and
are shared by every replica, unlike the per-process Prometheus counters
(``gateway_vigilance_answers_total``, ``gateway_vigilance_events_total``), which
feed the same indicators in Prometheus. The plot is SVG written on the server:
no script, nothing fetched from elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Final

from sqlalchemy import and_, distinct, func, select

from gateway.storage.database import Database
from gateway.storage.schema import audit_records
from gateway.vigilance.events import Kind
from gateway.vigilance.store import EventStore

WEEKS: Final = 8
RESULT_CODES: Final = ("00", "01", "02")  # a call the teleservice answered (CR)
COLOURS: Final = ("#1f4e9c", "#b8460b", "#2e7d32", "#6a1b9a", "#00838f", "#8d6e00")


@dataclass(slots=True)
class Week:
    """One application's week: answers given and events by kind."""

    answers: int = 0
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def share(self) -> float:
        """Percent of answers that needed a person (0 when nothing was answered)."""
        total = sum(self.events.values())
        return 100.0 * total / self.answers if self.answers else 0.0


@dataclass(frozen=True, slots=True)
class Indicators:
    weeks: tuple[str, ...]  # ISO weeks, oldest first: "2026-W49"
    apps: dict[str, dict[str, Week]]  # app -> week -> figures

    def series(self, metric: str) -> dict[str, list[float]]:
        """Per app, the weekly values of ``metric``: ``share`` or an event kind."""
        return {
            app: [_value(by_week.get(week, Week()), metric) for week in self.weeks]
            for app, by_week in sorted(self.apps.items())
        }


def _value(week: Week, metric: str) -> float:
    return week.share() if metric == "share" else float(week.events.get(metric, 0))


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def weekly(db: Database, store: EventStore, *, now: datetime | None = None) -> Indicators:
    """The last ``WEEKS`` ISO weeks (this one included) of every application."""
    now = now or datetime.now(UTC)
    start = (now - timedelta(days=now.weekday(), weeks=WEEKS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    weeks = tuple(iso_week(start + timedelta(weeks=n)) for n in range(WEEKS))
    apps: dict[str, dict[str, Week]] = defaultdict(lambda: defaultdict(Week))
    day = func.substr(audit_records.c.time, 1, 10)
    query = (
        select(
            audit_records.c.app, day.label("day"), func.count(distinct(audit_records.c.request_id))
        )
        .where(
            and_(
                audit_records.c.time >= start.strftime("%Y-%m-%dT%H:%M:%S"),
                audit_records.c.ref_seq.is_not(None),
                audit_records.c.app.is_not(None),
                audit_records.c.outcome.in_(RESULT_CODES),
            )
        )
        .group_by(audit_records.c.app, day)
    )
    with db.read() as conn:
        for app, day_text, count in conn.execute(query).all():
            moment = datetime.fromisoformat(day_text).replace(tzinfo=UTC)
            apps[app][iso_week(moment)].answers += int(count)
    for app, kind, moment in store.counts(start):
        apps[app][iso_week(moment)].events[kind] += 1
    return Indicators(weeks, {app: dict(by_week) for app, by_week in apps.items()})


CHARTS: Final = (
    ("share", "Part des réponses à vérifier (%)"),
    (Kind.MISMATCH.value, "Discordances"),
    (Kind.SUPERSEDED.value, "INS remplacés"),
    (Kind.MULTIPLE.value, "Identités multiples"),
)


def svg_chart(title: str, weeks: tuple[str, ...], series: dict[str, list[float]]) -> str:
    """A line chart, one line per application, as an accessible SVG element."""
    width, height, left, bottom, top = 560, 220, 44, 36, 28
    plot_w, plot_h = width - left - 150, height - top - bottom
    peak = max([v for values in series.values() for v in values] + [1.0])
    step = plot_w / max(len(weeks) - 1, 1)
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#444"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="11" text-anchor="end">{peak:.3g}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="11" text-anchor="end">0</text>',
    ]
    for n, week in enumerate(weeks):
        x = left + n * step
        label = week.split("-")[1]
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for index, (app, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(
            f"{left + n * step:.1f},{top + plot_h - plot_h * value / peak:.1f}"
            for n, value in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        y = top + 14 + 18 * index
        parts.append(
            f'<rect x="{left + plot_w + 14}" y="{y - 9}" width="12" height="4" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{left + plot_w + 32}" y="{y - 4}" font-size="12">{escape(app)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
