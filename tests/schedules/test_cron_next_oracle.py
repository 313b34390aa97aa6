"""pgflow.cron_next against croniter, the oracle: random valid expressions, random instants over
several years, zones with daylight saving, and instants close to their transitions.

The cases come from a fixed seed, so a failure names a case that replays. All cases go to the
database in one statement (unnest of three arrays), so 2,400 cases take a few seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from croniter import CroniterBadDateError, croniter

ZONES = [
    "UTC", "America/New_York", "Europe/London", "Australia/Sydney", "America/Sao_Paulo",
    "Pacific/Auckland", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "America/Santiago",
]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MACROS = ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"]
START = datetime(2019, 1, 1, tzinfo=UTC)
END = datetime(2031, 1, 1, tzinfo=UTC)
CASES = 2400
SEED = 20261204

CRON_NEXT_BATCH = """
select c.ord, pgflow.cron_next(cron => c.cron, after => c.after, timezone => c.zone) as fire
from unnest(%(crons)s::text[], %(afters)s::timestamptz[], %(zones)s::text[]) with ordinality
    as c (cron, after, zone, ord)
order by c.ord
"""


@dataclass(frozen=True, slots=True)
class Case:
    cron: str
    after: datetime
    zone: str
    expected: datetime

    def __str__(self) -> str:
        return f"cron_next({self.cron!r}, {self.after.isoformat()}, {self.zone!r})"


def _value(rng: random.Random, lo: int, hi: int, names: list[str] | None) -> str:
    v = rng.randint(lo, hi)
    if names is not None and rng.random() < 0.3:
        return names[(v - lo) % len(names)]
    return str(v)


def _element(rng: random.Random, lo: int, hi: int, names: list[str] | None, hot: list[int]) -> str:
    kind = rng.random()
    if kind < 0.15:
        return f"*/{rng.randint(1, max(2, (hi - lo) // 2))}"
    if kind < 0.45:
        # values near the daylight-saving changes (hours 0-3) are picked more often
        return str(rng.choice(hot)) if hot and rng.random() < 0.5 else _value(rng, lo, hi, names)
    a, b = sorted(rng.sample(range(lo, hi + 1), 2))
    first = names[a - lo] if names is not None and rng.random() < 0.3 else str(a)
    if kind < 0.75:
        return f"{first}-{b}"
    if kind < 0.9:
        return f"{first}-{b}/{rng.randint(1, max(1, b - a))}"
    return f"{a}/{rng.randint(1, max(2, (hi - lo) // 3))}"


def _field(rng: random.Random, lo: int, hi: int, *, star: float, names: list[str] | None = None,
           hot: list[int] | None = None) -> str:
    if rng.random() < star:
        return "*"
    return ",".join(_element(rng, lo, hi, names, hot or []) for _ in range(rng.choice([1, 1, 1, 2, 3])))


def _expression(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return rng.choice(MACROS)
    return " ".join([
        _field(rng, 0, 59, star=0.15, hot=[0, 15, 30, 45, 59]),
        _field(rng, 0, 23, star=0.3, hot=[0, 1, 2, 3]),
        _field(rng, 1, 31, star=0.6),
        _field(rng, 1, 12, star=0.6, names=MONTHS),
        _field(rng, 0, 7, star=0.6, names=DAYS),
    ])


def _transitions(zone: str) -> list[datetime]:
    """The instants at which `zone` changes its UTC offset between START and END (hourly scan,
    then narrowed to the minute)."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    t = START
    while t < END:
        u = t + timedelta(hours=1)
        if t.astimezone(tz).utcoffset() != u.astimezone(tz).utcoffset():
            lo, hi = t, u
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        t = u
    return found


def _cases() -> list[Case]:
    rng = random.Random(SEED)
    transitions = {z: _transitions(z) for z in ZONES}
    cases: list[Case] = []
    previous: Case | None = None
    while len(cases) < CASES:
        zone = rng.choice(ZONES)
        cron = _expression(rng)
        pick = rng.random()
        if pick < 0.45 and transitions[zone]:
            # within a day and a half of a daylight-saving change, to the second
            after = rng.choice(transitions[zone]) + timedelta(seconds=rng.randint(-36 * 3600, 36 * 3600))
        elif pick < 0.6 and previous is not None:
            # exactly at the previous answer: the next one must be strictly later
            cron, zone, after = previous.cron, previous.zone, previous.expected
        else:
            after = START + timedelta(seconds=rng.randint(0, int((END - START).total_seconds())))
        try:
            fire = croniter(cron, after.astimezone(ZoneInfo(zone))).get_next(datetime)
        except CroniterBadDateError:  # no time matches (e.g. the 31st of a 30-day month only): not a case
            previous = None
            continue
        case = Case(cron, after, zone, fire.astimezone(UTC))
        cases.append(case)
        previous = case
    return cases


def test_cron_next_agrees_with_croniter(conn: psycopg.Connection) -> None:
    cases = _cases()
    near_changes = sum(
        1 for c in cases
        if any(abs(c.expected - t) < timedelta(hours=36) for t in _transitions_cached(c.zone))
    )
    assert near_changes >= 500, "the generator must put many cases next to daylight-saving changes"
    rows = conn.execute(CRON_NEXT_BATCH, {
        "crons": [c.cron for c in cases],
        "afters": [c.after for c in cases],
        "zones": [c.zone for c in cases],
    }).fetchall()
    assert len(rows) == len(cases)
    wrong = [
        f"{case} = {fire.astimezone(UTC).isoformat()}, croniter says {case.expected.isoformat()}"
        for case, (_, fire) in zip(cases, rows, strict=True)
        if fire != case.expected
    ]
    assert not wrong, f"{len(wrong)} of {len(cases)} disagree:\n" + "\n".join(wrong[:40])


_TRANSITIONS: dict[str, list[datetime]] = {}


def _transitions_cached(zone: str) -> list[datetime]:
    if zone not in _TRANSITIONS:
        _TRANSITIONS[zone] = _transitions(zone)
    return _TRANSITIONS[zone]
