"""``pgflow schedule``: create, list, pause, resume and delete schedules, and ``next`` to check an
expression (the coming times it names in a zone, computed by the database's pgflow.cron_next)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import zoneinfo
from typing import TYPE_CHECKING, Any

from pgflow.cli.options import Subparsers, add_command, add_dsn, bounded
from pgflow.cli.output import text_table
from pgflow.cli.runtime import EXIT_OK, connect, dsn, err, parse_json
from pgflow.errors import PgflowError
from pgflow.schedules import (
    CATCHUP_POLICIES,
    DEFAULT_CATCHUP_POLICY,
    DEFAULT_OVERLAP_POLICY,
    DEFAULT_TIMEZONE,
    OVERLAP_POLICIES,
)

if TYPE_CHECKING:
    from pgflow.client import PgflowSqlClient
    from pgflow.types import Schedule

ACTIONS = ("create", "list", "pause", "resume", "delete", "next")
MAX_NEXT = 1000
next_count = bounded(int, 1)


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "schedule",
        help="create, list, pause, resume or delete schedules; check a cron expression",
        description="Schedules start a flow at the times a cron expression names, in a time zone, each time "
                    "exactly once. They live in the database (pgflow.schedules); workers tick them every few "
                    "seconds (or pg_cron, after `select pgflow.setup_schedules_cron()`). Each run's input is the "
                    "schedule's input plus \"scheduled_for\" (ISO 8601 UTC). A flow defined with "
                    "Flow(..., schedule=...) gets its schedule from `pgflow compile` or the worker's start.",
        example_lines="""
            pgflow schedule next '30 2 * * *' --timezone Europe/Paris -n 5
            pgflow schedule create nightly_digest article_digest '30 2 * * *' --timezone Europe/Paris \\
                --input '{"topic": "postgres"}'
            pgflow schedule list
            pgflow schedule list --json
            pgflow schedule pause nightly_digest
            pgflow schedule resume nightly_digest
            pgflow schedule delete nightly_digest
            """,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    c = _action(actions, "create", "create a schedule",
                "Create a schedule that starts FLOW at every time CRON names in --timezone. CRON has 5 fields "
                "(minute hour day-of-month month day-of-week; names, ranges, lists and steps) or is a macro "
                "(@hourly, @daily, @weekly, @monthly, @yearly). Check it first with `pgflow schedule next`.")
    c.add_argument("schedule_slug", metavar="SLUG", help="the schedule's name (letters, digits, underscores)")
    c.add_argument("flow", metavar="FLOW", help="the slug of the (compiled) flow to start")
    c.add_argument("cron", metavar="CRON", help="the cron expression (quote it: '*/5 * * * *')")
    c.add_argument("-i", "--input", default="{}", metavar="JSON",
                   help="each run's input (a JSON object; @file, - for stdin); \"scheduled_for\" is added (default {})")
    _timezone(c)
    c.add_argument("--overlap", choices=OVERLAP_POLICIES, default=DEFAULT_OVERLAP_POLICY,
                   help="skip: start nothing while a run of this schedule is still started "
                        f"(default {DEFAULT_OVERLAP_POLICY})")
    c.add_argument("--catchup", choices=CATCHUP_POLICIES, default=DEFAULT_CATCHUP_POLICY,
                   help="after downtime: latest starts only the most recent missed time, all every missed time "
                        f"within --catchup-window, oldest first (default {DEFAULT_CATCHUP_POLICY})")
    c.add_argument("--catchup-window", default="1 day", metavar="INTERVAL",
                   help="how far back --catchup all goes, as a PostgreSQL interval (default '1 day')")
    c.add_argument("--start-after", type=_instant, metavar="TIME",
                   help="the first run is the first time after TIME (ISO 8601 with a zone; default now); a past "
                        "TIME with --catchup all backfills from there")
    c.add_argument("--paused", action="store_true", help="create it paused (start it with `resume`)")

    ls = _action(actions, "list", "list schedules",
                 "List schedules by slug: flow, expression, zone, state, next and last time (UTC).")
    ls.add_argument("--flow", metavar="FLOW", help="only the schedules of this flow")
    ls.add_argument("--json", action="store_true", help="print JSON (times in ISO 8601 UTC)")

    for name, what in (("pause", "pause a schedule: it starts nothing until resumed"),
                       ("resume", "resume a paused schedule, from its next time after now (no catch-up)"),
                       ("delete", "delete a schedule (the runs it started are kept)")):
        a = _action(actions, name, what, what[0].upper() + what[1:] + ".")
        a.add_argument("schedule_slug", metavar="SLUG", help="the schedule's slug")

    n = _action(actions, "next", "print the coming times of a cron expression",
                "Print the next N times CRON names in --timezone, in UTC and as wall-clock time in the zone, "
                "as pgflow.cron_next computes them (daylight-saving days included). A bad expression gets an "
                "error that names the field.")
    n.add_argument("cron", metavar="CRON", help="the cron expression (quote it)")
    _timezone(n)
    n.add_argument("-n", "--count", type=next_count, default=5, metavar="N",
                   help=f"how many times (default 5, at most {MAX_NEXT})")
    n.add_argument("--after", type=_instant, metavar="TIME",
                   help="start after TIME (ISO 8601 with a zone; default now)")
    n.add_argument("--json", action="store_true", help="print a JSON list of ISO 8601 UTC times")
    return p


def _action(actions: Subparsers, name: str, help: str, description: str) -> argparse.ArgumentParser:
    a = actions.add_parser(name, help=help, description=description)
    add_dsn(a)
    return a


def _timezone(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timezone", "--tz", default=DEFAULT_TIMEZONE, metavar="ZONE",
                   help=f"the IANA time zone the expression is read in (default {DEFAULT_TIMEZONE})")


def _instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a zone with the time (e.g. {text}Z or {text}+02:00)")
    return value


def run(args: argparse.Namespace) -> int:
    from pgflow.client import PgflowSqlClient

    with connect(dsn(args)) as conn:
        client = PgflowSqlClient(conn)
        if args.action == "list":
            return _list(client, args)
        if args.action == "next":
            return _next(client, args)
        if args.action == "create":
            payload = parse_json(args.input, "--input")
            if not isinstance(payload, dict):
                raise PgflowError(f"--input must be a JSON object, got {type(payload).__name__}")
            row = client.create_schedule(
                args.schedule_slug, args.flow, args.cron, payload, timezone=args.timezone,
                overlap_policy=args.overlap, catchup_policy=args.catchup, catchup_window=args.catchup_window,
                enabled=not args.paused, start_after=args.start_after,
            )
        else:
            action = {"pause": client.pause_schedule, "resume": client.resume_schedule,
                      "delete": client.delete_schedule}[args.action]
            row = action(args.schedule_slug)
    verb = {"create": "created", "pause": "paused", "resume": "resumed", "delete": "deleted"}[args.action]
    state = "" if args.action == "delete" else f", next {utc(row.next_scheduled_start_time)}"
    err(f"schedule {row.schedule_slug} {verb}: flow {row.flow_slug}, {row.cron!r} in {row.timezone}"
        + (state if row.enabled else ", paused"))
    return EXIT_OK


def _list(client: PgflowSqlClient, args: argparse.Namespace) -> int:
    rows = client.list_schedules(flow_slug=args.flow)
    if args.json:
        print(json.dumps([schedule_json(r) for r in rows], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        err("no schedules" + (f" of flow {args.flow}" if args.flow else ""))
        return EXIT_OK
    print(text_table(
        ["SCHEDULE", "FLOW", "CRON", "TIMEZONE", "STATE", "NEXT (UTC)", "LAST (UTC)", "LAST RUN"],
        [[r.schedule_slug, r.flow_slug, r.cron, r.timezone, "enabled" if r.enabled else "paused",
          utc(r.next_scheduled_start_time) if r.enabled else "-", utc(r.last_scheduled_for), r.last_run_id or "-"]
         for r in rows],
    ))
    return EXIT_OK


def _next(client: PgflowSqlClient, args: argparse.Namespace) -> int:
    if args.count > MAX_NEXT:
        raise PgflowError(f"--count is at most {MAX_NEXT}, got {args.count}")
    times = client.cron_next(args.cron, args.after, args.timezone, count=args.count)
    if args.json:
        print(json.dumps([utc(t) for t in times]))
        return EXIT_OK
    try:
        zone: zoneinfo.ZoneInfo | None = zoneinfo.ZoneInfo(args.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = None  # the database knows it, Python's zone database does not: UTC only
    for t in times:
        print(utc(t) + ("" if zone is None else f"  {t.astimezone(zone):%Y-%m-%d %H:%M %Z} ({args.timezone})"))
    return EXIT_OK


def utc(ts: dt.datetime | None) -> str:
    """ISO 8601 in UTC with a Z (``2030-01-01T09:00:00Z``); "-" for none."""
    if ts is None:
        return "-"
    return ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def schedule_json(row: Schedule) -> dict[str, Any]:
    """A schedule for ``list --json``: times in ISO 8601 UTC, the catch-up window in seconds."""
    return {
        "schedule_slug": row.schedule_slug,
        "flow_slug": row.flow_slug,
        "cron": row.cron,
        "timezone": row.timezone,
        "input": row.input,
        "enabled": row.enabled,
        "overlap_policy": row.overlap_policy,
        "catchup_policy": row.catchup_policy,
        "catchup_window_seconds": row.catchup_window.total_seconds(),
        "next_scheduled_start_time": utc(row.next_scheduled_start_time),
        "last_run_id": None if row.last_run_id is None else str(row.last_run_id),
        "last_scheduled_for": None if row.last_scheduled_for is None else utc(row.last_scheduled_for),
        "created_at": utc(row.created_at),
        "updated_at": utc(row.updated_at),
    }
