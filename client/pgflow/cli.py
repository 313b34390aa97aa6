"""The `pgflow` command line. Each subcommand lives in a function `cmd_<name>`.

Exit codes: 0 success; 1 an error (or, for ``start --wait``, a run that failed or did not
finish in time); 2 bad usage; 130 interrupted. Results go to stdout, progress and errors to
stderr, so ``pgflow compile x:flow > file.sql`` and ``RUN=$(pgflow start ...)`` work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgflow.errors import PgflowError

if TYPE_CHECKING:
    import psycopg

    from pgflow.dsl import Flow

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DSN_HELP = "database URL (default: $DATABASE_URL)"
FLOW_SPEC_HELP = (
    "a flow as module:attribute (e.g. myapp.flows:greet), or path/to/file.py:attribute; "
    "the attribute may be omitted when the module defines exactly one Flow"
)
RUN_STATUSES = ("started", "completed", "failed")


def _dsn(args: argparse.Namespace) -> str:
    dsn: str | None = getattr(args, "dsn", None) or os.environ.get("DATABASE_URL")
    if not dsn:
        raise PgflowError("no database given: pass --dsn postgresql://... or set DATABASE_URL")
    return dsn


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Loading flows from user code
# --------------------------------------------------------------------------------------------


def load_flow(spec: str) -> Flow:
    """Import ``module:attr`` (or ``path/file.py:attr``) and return the Flow it names. Without
    ``:attr`` the module must define exactly one Flow at top level."""
    from pgflow.dsl import Flow

    module_ref, _, attr = spec.partition(":")
    if not module_ref:
        raise PgflowError(f"bad flow reference {spec!r}: expected module:attribute, e.g. myapp.flows:greet")
    if module_ref.endswith(".py") or os.sep in module_ref or "/" in module_ref:
        path = Path(module_ref).resolve()
        if not path.is_file():
            raise PgflowError(f"no such file: {module_ref}")
        name = f"_pgflow_user_{path.stem}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise PgflowError(f"cannot import {module_ref}")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.parent))  # sibling imports, as `python file.py` would allow
        try:
            mod_spec.loader.exec_module(module)
        except PgflowError:
            raise
        except Exception as exc:
            raise PgflowError(f"importing {module_ref} failed: {type(exc).__name__}: {exc}") from exc
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the current directory
        try:
            module = importlib.import_module(module_ref)
        except ModuleNotFoundError as exc:
            if exc.name and module_ref.startswith(exc.name):
                raise PgflowError(f"cannot import module {module_ref!r}: no module named {exc.name!r}") from exc
            raise PgflowError(f"importing {module_ref} failed: {type(exc).__name__}: {exc}") from exc
        except PgflowError:
            raise
        except Exception as exc:
            raise PgflowError(f"importing {module_ref} failed: {type(exc).__name__}: {exc}") from exc
    if attr:
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise PgflowError(f"{module_ref} has no attribute {attr!r}")
            obj = getattr(obj, part)
    else:
        found = {k: v for k, v in vars(module).items() if isinstance(v, Flow)}
        if len(found) != 1:
            names = ", ".join(sorted(found)) or "none"
            raise PgflowError(
                f"{module_ref} defines {len(found)} flows ({names}): name one as {module_ref}:<attribute>"
            )
        obj = next(iter(found.values()))
    if not isinstance(obj, Flow):
        raise PgflowError(f"{spec} is a {type(obj).__name__}, not a pgflow.dsl.Flow")
    return obj


# --------------------------------------------------------------------------------------------
# migrate
# --------------------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    import psycopg

    from pgflow import migrator

    dsn = _dsn(args)
    if args.status:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = migrator.status(conn)
        for st in rows:
            when = st.applied_at.isoformat(timespec="seconds") if st.applied_at else "pending"
            print(f"{st.migration.version}_{st.migration.name}  {when}")
        pending = sum(1 for st in rows if st.applied_at is None)
        print(f"{len(rows) - pending} applied, {pending} pending")
        return EXIT_OK
    done = migrator.migrate(dsn, progress=lambda m: print(m, flush=True))
    print(f"applied {len(done)} migration(s)" if done else "nothing to do: the database is up to date")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# compile
# --------------------------------------------------------------------------------------------


def migration_filename(flow_slug: str, now: dt.datetime | None = None) -> str:
    """``<UTC yyyymmddhhmmss>_create_<slug>_flow.sql``, the name pgflow's CLI gives it."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d%H%M%S}_create_{flow_slug}_flow.sql"


def cmd_compile(args: argparse.Namespace) -> int:
    flow = load_flow(args.flow)
    sql = flow.compile_sql()
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(sql, encoding="utf-8")
        _err(f"wrote {out} ({len(flow.steps)} step(s) of flow {flow.slug!r})")
        return EXIT_OK
    if args.migrations_dir:
        directory = Path(args.migrations_dir)
        directory.mkdir(parents=True, exist_ok=True)
        existing = sorted(directory.glob(f"[0-9]*_create_{flow.slug}_flow.sql"))
        same = [p for p in existing if p.read_text(encoding="utf-8") == sql]
        if same:
            _err(f"{same[-1]} already creates flow {flow.slug!r} as defined: nothing to do")
            return EXIT_OK
        now = dt.datetime.now(dt.UTC)
        path = directory / migration_filename(flow.slug, now)
        while path.exists():  # two compiles within one second: keep versions unique
            now += dt.timedelta(seconds=1)
            path = directory / migration_filename(flow.slug, now)
        path.write_text(sql, encoding="utf-8")
        print(path)
        if existing:
            _err(
                f"warning: {existing[-1].name} already creates flow {flow.slug!r} with a different definition; "
                "create_flow/add_step never change an existing flow, so applying the new migration to a database "
                "that has the old one changes nothing. Delete the flow first "
                f"(select pgflow.delete_flow_and_data('{flow.slug}')) or give the new version a new slug."
            )
        return EXIT_OK
    sys.stdout.write(sql)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# worker
# --------------------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    flows = [load_flow(spec) for spec in args.flows]
    slugs = [f.slug for f in flows]
    dupes = sorted({s for s in slugs if slugs.count(s) > 1})
    if dupes:
        raise PgflowError(f"flow {', '.join(map(repr, dupes))} given more than once")
    dsn = _dsn(args)
    from pgflow.worker import Worker

    options = {
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "visibility_timeout": args.visibility_timeout,
        "max_poll_seconds": args.max_poll_seconds,
        "poll_interval_ms": args.poll_interval_ms,
        "compile": args.compile,
        "allow_data_loss": args.allow_data_loss or None,
        "shutdown_grace": args.shutdown_grace,
        "maintenance_interval": args.maintenance_interval,
    }
    # Only what the user gave: the worker owns its defaults.
    worker = Worker(flows, dsn, **{k: v for k, v in options.items() if v is not None})
    _err(f"pgflow worker: serving {', '.join(slugs)} (Ctrl-C or SIGTERM drains in-flight tasks and stops)")
    code = asyncio.run(run_until_signalled(worker))
    if code == EXIT_INTERRUPTED:
        # Aborted with handlers still running. A sync handler's thread cannot be interrupted, and
        # the interpreter would join it at exit: leave without waiting (its task is abandoned
        # unreported; its message becomes visible again, requeue_stalled_tasks recovers it).
        _err("pgflow worker: aborted")
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)
    _err("pgflow worker: stopped")
    return code


async def run_until_signalled(worker: Any) -> int:
    """Run ``worker.run()``; the first SIGTERM/SIGINT calls ``worker.stop()`` (graceful drain),
    a second one cancels the run. Returns the process exit code."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    signals_seen: list[str] = []
    pending: set[asyncio.Future[Any]] = set()

    def on_signal(name: str) -> None:
        signals_seen.append(name)
        if len(signals_seen) > 1:
            _err(f"pgflow worker: {name} again: aborting without waiting for in-flight tasks")
            main.cancel()
            return
        _err(f"pgflow worker: {name}: finishing in-flight tasks (send it again to abort)")
        result = worker.stop()
        if inspect.isawaitable(result):
            fut = asyncio.ensure_future(result)
            pending.add(fut)
            fut.add_done_callback(pending.discard)

    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread / Windows
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
    try:
        await worker.run()
    except asyncio.CancelledError:
        if len(signals_seen) > 1:
            return EXIT_INTERRUPTED
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# start / status / runs
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _connect(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    import psycopg

    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise PgflowError(f"cannot connect to the database: {str(exc).strip()}") from exc
    with conn:
        if conn.execute("select to_regnamespace('pgflow') is null").fetchone() == (True,):
            raise PgflowError("this database has no pgflow schema: run `pgflow migrate --dsn <url>` first")
        yield conn


def _sql_error(exc: psycopg.Error) -> PgflowError:
    from pgflow.errors import map_sql_error

    return map_sql_error(exc)


def _parse_json(text: str, what: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise PgflowError(f"cannot read {what} from {text[1:]}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PgflowError(f"{what} is not valid JSON: {exc}") from None


def _parse_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise PgflowError(f"not a run id (uuid): {text!r}") from None


def cmd_start(args: argparse.Namespace) -> int:
    from pgflow.client import PgflowSqlClient
    from pgflow.errors import RunTimeout

    payload = _parse_json(args.input, "--input")
    run_id = _parse_uuid(args.run_id) if args.run_id else None
    with _connect(_dsn(args)) as conn:
        client = PgflowSqlClient(conn)
        run = client.start_flow(args.flow, payload, run_id)
        print(run.run_id, flush=True)
        if not args.wait:
            return EXIT_OK
        _err(f"waiting up to {args.timeout:g}s for run {run.run_id} to finish...")
        try:
            state = client.wait_for_run(run.run_id, args.timeout)
        except RunTimeout:
            _err(f"timeout: run {run.run_id} still running after {args.timeout:g}s "
                 f"(see `pgflow status {run.run_id}`)")
            return EXIT_ERROR
    print(f"status: {state.run.status}")
    if state.run.status == "completed":
        print("output: " + json.dumps(state.run.output, indent=2, ensure_ascii=False))
        return EXIT_OK
    for s in state.steps:
        if s.status == "failed":
            print(f"failed step {s.step_slug}: {s.error_message}")
    return EXIT_ERROR


def _duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "-"
    secs = (end - start).total_seconds()
    return f"{secs * 1000:.0f}ms" if secs < 1 else f"{secs:.1f}s"


def _fmt_ts(ts: dt.datetime | None) -> str:
    return "-" if ts is None else ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart, trailing spaces trimmed."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def _short(text: object, width: int = 60) -> str:
    s = "" if text is None else " ".join(str(text).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _jsonable(obj: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dt.datetime):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    return obj


def cmd_status(args: argparse.Namespace) -> int:
    import psycopg

    from pgflow.client import PgflowSqlClient

    run_id = _parse_uuid(args.run_id)
    with _connect(_dsn(args)) as conn:
        state = PgflowSqlClient(conn).get_run(run_id)
        if state is None:
            raise PgflowError(f"no run {run_id}")
        try:  # definition order; get_run_with_states does not say
            order: dict[str, int] = {
                slug: idx
                for slug, idx in conn.execute(
                    "select s.step_slug, s.step_index from pgflow.steps as s where s.flow_slug = %s",
                    (state.run.flow_slug,),
                ).fetchall()
            }
        except psycopg.Error as exc:
            raise _sql_error(exc) from exc
    steps = sorted(state.steps, key=lambda s: (order.get(s.step_slug, 1 << 30), s.step_slug))
    if args.json:
        print(json.dumps({"run": _jsonable(state.run), "steps": _jsonable(steps)}, indent=2, ensure_ascii=False))
        return EXIT_OK
    run = state.run
    finished = run.completed_at or run.failed_at
    print(f"run      {run.run_id}")
    print(f"flow     {run.flow_slug}")
    print(f"status   {run.status}" + ("" if finished else f" ({run.remaining_steps} step(s) to go)"))
    took = f" (took {_duration(run.started_at, finished)})" if finished else ""
    print(f"started  {_fmt_ts(run.started_at)}{took}")
    rows = []
    for s in steps:
        if s.initial_tasks is None:
            tasks = "-"
        elif s.remaining_tasks is None:
            tasks = f"{s.initial_tasks if s.status == 'completed' else 0}/{s.initial_tasks}"
        else:
            tasks = f"{s.initial_tasks - s.remaining_tasks}/{s.initial_tasks}"
        end = s.completed_at or s.failed_at or s.skipped_at
        note = s.error_message or (f"skipped: {s.skip_reason}" if s.skip_reason else "")
        rows.append([s.step_slug, s.status, tasks, _fmt_ts(s.started_at), _duration(s.started_at, end), _short(note)])
    print()
    print(format_table(["STEP", "STATUS", "TASKS", "STARTED", "TOOK", "NOTE"], rows))
    if args.output and run.status == "completed":
        print("\noutput: " + json.dumps(run.output, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_maintain(args: argparse.Namespace) -> int:
    """The stalled-task sweep on its own, for deployments without pg_cron and without workers
    that sweep (every worker sweeps by default)."""
    from pgflow.client import PgflowSqlClient

    dsn = _dsn(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    total = 0
    with _connect(dsn) as conn:
        client = PgflowSqlClient(conn)
        while True:
            requeued = client.requeue_stalled_tasks()
            if requeued is None:
                _err("pgflow maintain: another session is sweeping; skipped")
            elif requeued or args.once:
                total += requeued
                _err(f"pgflow maintain: requeued {requeued} stalled task(s)")
            if args.once or stop.wait(args.interval):
                break
    if not args.once:
        _err(f"pgflow maintain: stopped ({total} task(s) requeued in all)")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    import psycopg

    with _connect(_dsn(args)) as conn:
        try:  # pgflow.client has no run listing (yet): the one query of the CLI's own
            rows = conn.execute(
                """
                select r.run_id, r.flow_slug, r.status, r.started_at,
                       coalesce(r.completed_at, r.failed_at) as finished_at, r.remaining_steps
                from pgflow.runs as r
                where (%(flow)s::text is null or r.flow_slug = %(flow)s)
                  and (%(status)s::text is null or r.status = %(status)s)
                order by r.started_at desc, r.run_id
                limit %(limit)s
                """,
                {"flow": args.flow, "status": args.status, "limit": args.limit},
            ).fetchall()
        except psycopg.Error as exc:
            raise _sql_error(exc) from exc
    if args.json:
        print(json.dumps([
            {"run_id": str(r[0]), "flow_slug": r[1], "status": r[2], "started_at": r[3].isoformat(),
             "finished_at": r[4].isoformat() if r[4] else None, "remaining_steps": r[5]}
            for r in rows
        ], indent=2))
        return EXIT_OK
    if not rows:
        _err("no runs" + (" matching the filters" if args.flow or args.status else ""))
        return EXIT_OK
    print(format_table(
        ["RUN_ID", "FLOW", "STATUS", "STARTED", "TOOK", "REMAINING"],
        [[r[0], r[1], r[2], _fmt_ts(r[3]), _duration(r[3], r[4]), r[5] if r[2] == "started" else ""]
         for r in rows],
    ))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from pgflow import demo

    return demo.main(topic=args.topic, limit=args.limit, timeout=args.timeout)


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


def _examples(text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from pgflow import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="pgflow",
        description="pgflow: a Postgres-native DAG workflow engine (SQL core + Python worker).",
        epilog=_examples("""
            pgflow demo                                   # everything in a throwaway Postgres
            export DATABASE_URL=postgresql://app@localhost/app
            pgflow migrate                                # install pgmq + the pgflow schema
            pgflow compile myapp.flows:greet --migrations-dir migrations/
            pgflow worker myapp.flows:greet --concurrency 20
            pgflow start greet --input '{"name": "Ada"}' --wait
            pgflow status 5f0c...                         # a run and its steps
            pgflow runs --status failed
        """) + "\n\nexit codes: 0 ok, 1 error (or a run that failed/timed out), 2 usage, 130 interrupted",
        formatter_class=fmt,
    )
    p.add_argument("-V", "--version", action="version", version=f"pgflow-py {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str, description: str,
            examples: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=textwrap.fill(description, 90), epilog=_examples(examples),
                            formatter_class=fmt)
        sp.set_defaults(func=func)
        return sp

    m = add("migrate", cmd_migrate, "apply pending migrations (installs pgmq when missing)",
            "Apply pgflow's migrations to a database, installing pgmq first when it is missing. "
            "Idempotent; concurrent runs wait for each other.",
            """
            pgflow migrate --dsn postgresql://app@localhost/app
            pgflow migrate --status
            """)
    m.add_argument("--dsn", help=DSN_HELP)
    m.add_argument("--status", action="store_true", help="list applied and pending migrations, change nothing")

    c = add("compile", cmd_compile, "print the SQL that creates a flow, or write it as a migration",
            "Compile a Python flow definition to the pgflow.create_flow / pgflow.add_step statements "
            "that create it (the same SQL as pgflow's `npx pgflow compile`). Prints to stdout by "
            "default. No database needed.",
            """
            pgflow compile myapp.flows:greet
            pgflow compile myapp/flows.py:greet --output greet.sql
            pgflow compile myapp.flows:greet --migrations-dir supabase/migrations
              # -> supabase/migrations/20260314120000_create_greet_flow.sql
            """)
    c.add_argument("flow", metavar="MODULE:FLOW", help=FLOW_SPEC_HELP)
    dest = c.add_mutually_exclusive_group()
    dest.add_argument("-o", "--output", metavar="FILE", help="write the SQL to FILE instead of stdout")
    dest.add_argument("--migrations-dir", metavar="DIR",
                      help="write a migration <yyyymmddhhmmss>_create_<slug>_flow.sql into DIR and print its path")

    w = add("worker", cmd_worker, "run a worker for one or more flows until SIGTERM/Ctrl-C",
            "Poll the flows' queues and run their step handlers. On start the worker compiles each "
            "flow into the database, or verifies that the compiled flow matches the code. The first "
            "SIGTERM or Ctrl-C stops polling and waits for in-flight tasks; a second one aborts.",
            """
            pgflow worker myapp.flows:greet
            pgflow worker myapp.flows:greet myapp.flows:digest --concurrency 20 --batch-size 20
            """)
    w.add_argument("flows", metavar="MODULE:FLOW", nargs="+", help=FLOW_SPEC_HELP)
    w.add_argument("--dsn", help=DSN_HELP)
    w.add_argument("--concurrency", type=_positive_int, metavar="N",
                   help="handlers running at once (default 10)")
    w.add_argument("--batch-size", type=_positive_int, metavar="N", help="messages read per poll (default 10)")
    w.add_argument("--visibility-timeout", type=_positive_int, metavar="S",
                   help="seconds a message read but not started stays hidden (a started task's message "
                        "stays hidden for its step's timeout + 2 s) (default 5)")
    w.add_argument("--max-poll-seconds", type=_non_negative_float, metavar="S",
                   help="longest wait for messages in one poll (default 2)")
    w.add_argument("--poll-interval-ms", type=_positive_int, metavar="MS",
                   help="pause between queue checks within one poll (default 100)")
    w.add_argument("--compile", choices=("auto", "verify", "off"),
                   help="auto: create a missing flow, refuse a changed one (default); verify: only compare; "
                        "off: trust that migrations created the flows")
    w.add_argument("--allow-data-loss", action="store_true",
                   help="with --compile auto: drop and recreate a flow whose definition changed, WITH ALL ITS RUNS")
    w.add_argument("--shutdown-grace", type=_non_negative_float, metavar="S",
                   help="on stop, wait up to S seconds for in-flight tasks (default 30)")
    w.add_argument("--maintenance-interval", type=_non_negative_float, metavar="S",
                   help="run the stalled-task sweep (pgflow.requeue_stalled_tasks) every S seconds, at most "
                        "one worker at a time; 0 disables it, e.g. where pg_cron runs it (default 15)")

    s = add("start", cmd_start, "start a run of a flow; print its run id",
            "Start a run of a compiled flow and print its run id. With --wait, wait for the run to "
            "finish and print its status and output: exit 0 if it completed, 1 if it failed or did "
            "not finish within --timeout.",
            """
            pgflow start greet --input '{"name": "Ada"}'
            RUN=$(pgflow start digest --input @input.json)
            pgflow start greet --input '{"name": "Ada"}' --wait --timeout 60
            """)
    s.add_argument("flow", metavar="FLOW", help="the flow slug")
    s.add_argument("-i", "--input", default="{}", metavar="JSON",
                   help="the run input as JSON, @file to read a file, - for stdin (default {})")
    s.add_argument("--run-id", metavar="UUID", help="use this run id instead of a random one")
    s.add_argument("--wait", action="store_true", help="wait for the run to finish; print status and output")
    s.add_argument("--timeout", type=_positive_float, default=300.0, metavar="S",
                   help="with --wait: give up after S seconds (default 300)")
    s.add_argument("--dsn", help=DSN_HELP)

    st = add("status", cmd_status, "show a run and the state of each of its steps",
             "Show a run (status, timing) and a table of its steps: status, tasks done/total, "
             "when it started, how long it took, and the error or skip reason.",
             """
             pgflow status 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c
             pgflow status 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c --json
             """)
    st.add_argument("run_id", metavar="RUN_ID")
    st.add_argument("--output", action="store_true", help="also print the run output")
    st.add_argument("--json", action="store_true", help="print pgflow.get_run_with_states() as JSON")
    st.add_argument("--dsn", help=DSN_HELP)

    r = add("runs", cmd_runs, "list recent runs",
            "List runs, newest first.",
            """
            pgflow runs
            pgflow runs --flow greet --status failed --limit 50
            """)
    r.add_argument("--flow", metavar="FLOW", help="only runs of this flow")
    r.add_argument("--status", choices=RUN_STATUSES, help="only runs with this status")
    r.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="at most N runs (default 20)")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.add_argument("--dsn", help=DSN_HELP)

    mt = add("maintain", cmd_maintain, "requeue stalled tasks periodically (plain PostgreSQL without pg_cron)",
             "Call pgflow.requeue_stalled_tasks() every --interval seconds: tasks started longer ago than "
             "their flow's timeout + 30 s (a worker died) go back to the queue, at most 3 times. At most one "
             "caller sweeps at a time (advisory lock). Workers already do this by default; on Supabase "
             "pg_cron does it every 15 s.",
             """
             pgflow maintain --dsn postgresql://app@localhost/app
             pgflow maintain --once
             """)
    mt.add_argument("--dsn", help=DSN_HELP)
    mt.add_argument("--interval", type=_positive_float, default=15.0, metavar="S",
                    help="seconds between sweeps (default 15)")
    mt.add_argument("--once", action="store_true", help="sweep once and exit")

    d = add("demo", cmd_demo, "run an example flow end to end in a throwaway Postgres",
            "Start a throwaway PostgreSQL server, migrate it, compile the example flow "
            "pgflow.examples.article_digest, run a worker in this process, start a run, print each "
            "step as it progresses and the final output, then stop everything. Needs the PostgreSQL "
            "server binaries (initdb, pg_ctl); no database of your own.",
            """
            pgflow demo
            pgflow demo --topic python
            """)
    d.add_argument("--topic", default="postgres", help="which articles to digest: postgres or python "
                                                        "(default postgres)")
    d.add_argument("--limit", type=_positive_int, default=4, help="at most N articles (default 4)")
    d.add_argument("--timeout", type=_positive_float, default=60.0, metavar="S",
                   help="give up if the run has not finished after S seconds (default 60)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A worker is a long-running service: it reports start, compilation, drain and stop (INFO).
    verbosity = args.verbose + (1 if getattr(args, "command", None) == "worker" else 0)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except PgflowError as exc:
        if args.verbose:
            logging.getLogger("pgflow.cli").exception("command failed")
        print(f"pgflow: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        import psycopg

        if not isinstance(exc, psycopg.Error):
            raise
        if args.verbose:
            logging.getLogger("pgflow.cli").exception("command failed")
        print(f"pgflow: database error: {str(exc).strip()}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
