"""A report whose acknowledgement is lost must not be replayed onto a later attempt.

A worker (W1) talks to PostgreSQL through a TCP proxy owned by the test. Its handler fails
attempt 1 of a task (max_attempts 2); `fail_task` commits (autocommit: the task goes back to
`queued` with a 2 s backoff) and the proxy then drops the response carrying the returned row,
and every other connection of W1, and refuses new ones: a network partition right after commit.
W1 cannot know whether its call took effect.

While W1 is cut off, a second worker (W2, direct connection) starts attempt 2, whose handler
blocks at a gate. Then the partition heals and W1 is stopped gracefully (SIGTERM; it exits after
finishing or abandoning its pending report, a definite event to wait for). Only then does the
gate open and attempt 2 succeed.

Expected: the run completes, the task completed on attempt 2 with its output. A worker that
replays the lost `fail_task` blindly fails attempt 2 while it is still running (pgflow's
fail_task names no attempt), which exhausts the retries and fails the run, although the
handler failed only once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import psycopg

from tests.support import reliability_flows as flows
from tests.support.faults import count, entered, open_gate
from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.sql import compile_flow, run_row, start_flow
from tests.support.waiting import wait_until
from tests.support.worker import FAULT_RECOVERY

MARKER = b"LOSE_ACK"


class PartitionProxy:
    """Forwards 127.0.0.1:<port> to the database. The first server->client packet holding
    MARKER is swallowed; at that moment every proxied connection is cut and new ones are refused
    until heal()."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = True
        self.refusing = False
        self.acks_dropped = 0
        self.replays_sent = 0
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _cut_all(self) -> None:
        with self.lock:
            for s in self.conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
            self.conns.clear()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and self.armed and MARKER in data:
                    self.armed = False
                    self.refusing = True
                    self.acks_dropped += 1
                    self._cut_all()
                    return
                if not from_server and not self.armed and MARKER in data:
                    self.replays_sent += 1
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def heal(self) -> None:
        self.refusing = False

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self._cut_all()


def test_lost_fail_task_ack_is_not_replayed_onto_the_next_attempt(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    conn = effects
    compile_flow(conn, flows.ack)
    info = conn.info
    proxy = PartitionProxy(info.host, info.port)
    try:
        proxied = db_dsn.replace(f":{info.port}/", f":{proxy.port}/")
        assert proxied != db_dsn
        rid = start_flow(conn, "rel_ack", {"tag": "ack"})["run_id"]
        w1 = spawn_worker(proxied, "tests.support.reliability_flows:ack", tmp_path, name="w1-partitioned",
                          extra_env={"REL_ROLE": "first"}, **{**FAULT_RECOVERY, "shutdown_grace": 15})
        procs.append(w1)

        def task() -> tuple[str, int]:
            row = conn.execute("select status, attempts_count from pgflow.step_tasks where run_id = %s",
                               (rid,)).fetchone()
            return (row[0], row[1]) if row else ("", 0)

        wait_until("attempt 1's fail_task to commit and its ack to be dropped",
                   lambda: proxy.acks_dropped == 1 and task() == ("queued", 1), timeout=60)
        w2 = spawn_worker(db_dsn, "tests.support.reliability_flows:ack", tmp_path, name="w2-direct",
                          extra_env={"REL_ROLE": "second", "REL_GATE": "flaky"}, **FAULT_RECOVERY)
        procs.append(w2)
        wait_until("attempt 2 to be running in W2", lambda: entered(tmp_path, "ack.flaky.0.*"), timeout=60)
        assert task() == ("started", 2)

        proxy.heal()
        w1.stop(timeout=60)  # graceful: whatever W1 still does about attempt 1 happens before it exits
        open_gate(tmp_path)
        wait_until("the run to finish", lambda: run_row(conn, rid)["status"] != "started", timeout=60)
        run = run_row(conn, rid)
        row = conn.execute("select status, attempts_count, output, error_message from pgflow.step_tasks "
                           "where run_id = %s", (rid,)).fetchone()
        count("lost acknowledgement (partition after commit)", acks_dropped=proxy.acks_dropped,
              fail_task_replays_sent=proxy.replays_sent,
              runs_failed_by_replay=int(run["status"] == "failed"))
        assert run["status"] == "completed", (
            f"run {run['status']}: W1 re-sent fail_task {proxy.replays_sent} time(s) after its ack was lost and "
            f"failed attempt 2 while it was running; task row: {row}")
        assert row is not None and row[:3] == ("completed", 2, {"ok": True}), row
    finally:
        proxy.close()
