"""Progress of a run as it happens, one line per step event, for ``pgflow demo`` (every event) and
``pgflow start --wait`` (each step as it finishes, on stderr, so stdout keeps only the result).

Events come from the ``pgflow`` NOTIFY channel; a NOTIFY can be missed (or carry a truncated
payload), so :func:`watch_run` also re-reads the run every second and, at the end, reports from
the run's state any step that finished without its event having been seen.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgflow import queries as q
from pgflow.errors import RunNotFound, RunTimeout

if TYPE_CHECKING:
    import psycopg

    from pgflow.client import PgflowSqlClient
    from pgflow.types import RunWithStates, StepState

FINISHED = ("completed", "failed", "skipped")


def preview(value: Any, width: int = 60) -> str:
    """Compact JSON of ``value``, cut to ``width`` characters with an ellipsis."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


def describe_event(ev: dict[str, Any], elapsed: float) -> str:
    """One line for a run or step event: seconds since the first event, what, status, detail."""
    name = str(ev.get("event", "?"))
    status = str(ev.get("status", name.rsplit(":", 1)[-1]))
    if "step_slug" in ev:
        what = f"step {ev['step_slug']}"
        detail = ""
        if status == "started" and ev.get("remaining_tasks") not in (None, 1):
            detail = f"({ev['remaining_tasks']} tasks)"
        elif status == "completed" and "output" in ev:
            detail = "-> " + preview(ev["output"])
        elif status == "failed":
            detail = str(ev.get("error_message", ""))
        elif status == "skipped":
            detail = str(ev.get("skip_reason", ""))
    else:
        what = "run"
        detail = str(ev.get("error_message", "")) if status == "failed" else ""
    return f"  {elapsed:+7.3f}s  {what:<24} {status:<10} {detail}".rstrip()


class EventPrinter:
    """Prints events through ``say``, timed from the first one."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.t0: float | None = None

    def event(self, ev: dict[str, Any]) -> None:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        self.say(describe_event(ev, now - self.t0))


def watch_run(
    conn: psycopg.Connection[Any],
    client: PgflowSqlClient,
    run_id: uuid.UUID,
    timeout: float,
    say: Callable[[str], None],
) -> RunWithStates:
    """Wait for the run to end, printing each step as it finishes (completed, failed, skipped)
    and the run's end; return its final state. ``conn`` (autocommit) must already LISTEN on the
    events channel (``queries.LISTEN_EVENTS``), from before the run started, so that no event is
    lost. Raises RunTimeout, RunNotFound."""
    printer = EventPrinter(say)
    seen: set[str] = set()
    rid = str(run_id)
    deadline = time.monotonic() + timeout
    while True:
        state = client.get_run(run_id)
        if state is None:
            raise RunNotFound(f"run {rid} not found")
        if state.run.status.is_terminal:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RunTimeout(f"run {rid} still {state.run.status} after {timeout:g} s")
        for n in conn.notifies(timeout=min(remaining, 1.0)):
            ev = _event(n.channel, n.payload, rid)
            if ev is None:
                continue
            if "step_slug" in ev and ev.get("status") in FINISHED:
                printer.event(ev)
                seen.add(str(ev["step_slug"]))
            elif "step_slug" not in ev and ev.get("status") in FINISHED:
                break  # the run ended: read its final state above
    for s in sorted(state.steps, key=_finished_at):
        if s.status in FINISHED and s.step_slug not in seen:  # its event was missed
            printer.event(_step_event(s))
    printer.event({"event": f"run:{state.run.status}", "status": str(state.run.status)})
    return state


def _event(channel: str, payload: str, run_id: str) -> dict[str, Any] | None:
    if channel != q.EVENTS_CHANNEL:
        return None
    try:
        ev = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(ev, dict) or ev.get("run_id") != run_id:
        return None
    ev.setdefault("status", str(ev.get("event", "")).rsplit(":", 1)[-1])
    return ev


def _finished_at(s: StepState) -> float:
    at = s.completed_at or s.failed_at or s.skipped_at
    return at.timestamp() if at is not None else 0.0


def _step_event(s: StepState) -> dict[str, Any]:
    ev: dict[str, Any] = {"step_slug": s.step_slug, "status": str(s.status)}
    if s.status == "completed":
        ev["output"] = s.output
    elif s.status == "failed":
        ev["error_message"] = s.error_message or ""
    else:
        ev["skip_reason"] = s.skip_reason or ""
    return ev
