"""The flow worker: polls a flow's pgmq queue, runs step handlers, reports results to pgflow.

::

    worker = Worker([flow], "postgresql://...")
    await worker.run()          # until worker.stop() (from any thread) or deprecation

One asyncio loop owns everything: a poller per flow, heartbeats, the maintenance sweep
(``pgflow.requeue_stalled_tasks()`` every ``maintenance_interval`` under a transaction-level
advisory try-lock, so at most one worker of a database runs it at a time) and a LISTEN
connection on channel ``pgflow_tasks`` (payload: the flow slug; SQL notifies it when task
messages become visible). With ``use_notify`` the poller reads and starts tasks in one
non-blocking call, ``pgflow.read_and_start_tasks`` (``pgmq.read`` + ``start_tasks``), and when
there is nothing sleeps until a notification, the next delayed message's visibility time, or
``max_poll_seconds``, whichever comes first; without NOTIFY (or while the LISTEN connection is
down) it waits in ``pgmq.read_with_poll`` and then calls ``pgflow.start_tasks``.

Async handlers run on the loop; sync handlers in a dedicated bounded ThreadPoolExecutor (never
the default executor). At most ``concurrency`` tasks run at once: a poller reserves free slots
before it reads, so it reads only messages it can start at once, and it polls again as soon as
a slot frees (it does not wait for the whole batch, unlike pgflow's edge worker).

Handler result -> ``pgflow.complete_task``; exception -> ``pgflow.fail_task`` with
``"<ExceptionType>: <message>"``. With ``batch_completions`` (default) results go through
``pgflow.complete_tasks_count`` (``complete_tasks``, pgflow-py's batched equivalent, without
the rows read back): one call at a time, carrying every result that arrived while the previous
call was in flight (so an idle worker reports at once); when that call fails, its tasks are
reported one by one with ``complete_task``. With ``claim_next_tasks`` (default) a batch of one
flow goes through ``pgflow.complete_tasks_and_claim`` instead: the tasks its results make ready
in that flow (a chain's next step, a map's elements; up to one per result, steps without start
delay) are started for this worker in the same transaction and run in the slots the finished
tasks free, with no read, NOTIFY or poll in between; the rest are queued as usual. The
read-and-start call and the completion batches share one connection of their own (one warm
backend per worker; tested after 1 s idle and replaced when it is gone); everything else
borrows from a pool. Cancellation is
never swallowed. ``stop()`` stops polling, waits up to ``shutdown_grace`` for in-flight tasks,
then calls ``pgflow.mark_worker_stopped`` and closes its connections; tasks still running after
the grace period are abandoned unreported (``requeue_stalled_tasks`` recovers them once their
flow's timeout + 30 s has passed).
Transient database errors (connection lost, server restart) are logged and retried with
exponential backoff capped at 5 s; the worker never exits on them.

Signal handling is the embedding application's job (the CLI installs SIGTERM -> ``stop()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
import weakref
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from pgflow.client import DEFAULT_MAX_OUTPUT_BYTES, AsyncPgflowSqlClient, Completion, listen_for_tasks
from pgflow.errors import (
    FlowShapeMismatch,
    InvalidOutput,
    PgflowError,
    SchemaVersionError,
    TransientDatabaseError,
    WorkerNotFound,
)
from pgflow.migrator import require_schema_version
from pgflow.types import CompileStatus, Context, QueueMessage, StepTask

__all__ = ["CompileMode", "FlowLike", "StepLike", "Worker"]

logger = logging.getLogger(__name__)

CompileMode = Literal["auto", "verify", "off"]
T = TypeVar("T")

_BACKOFF_START = 0.1
_BACKOFF_CAP = 5.0
_REPORT_RETRY_WINDOW = 60.0  # how long complete/fail calls are retried across a database outage
_FLOW_INPUT_CACHE = 1024  # runs whose input is cached for ctx.flow_input()
_CHECK_IDLE_AFTER = 1.0  # a pooled connection idle longer than this is tested before use
_CONNECT_TIMEOUT = 10.0  # seconds to open the worker's own connection (the pool waits as long)
_MAX_COMPLETION_BATCH = 100  # results per pgflow.complete_tasks call
# LISTEN is kept only while a poller waits for work, and this long after one last did: a busy
# worker's backend is not woken by every NOTIFY in the database, nor the worker by every wake-up.
_LISTEN_HOLD = 0.5
_LISTEN_ON_TIMEOUT = 2.0  # a poller waits this long for LISTEN to be back before polling instead


class StepLike(Protocol):
    """What the worker needs of a step (pgflow.dsl.StepDef provides it)."""

    @property
    def slug(self) -> str: ...
    @property
    def step_type(self) -> str: ...
    @property
    def depends_on(self) -> tuple[str, ...]: ...
    @property
    def is_async(self) -> bool: ...
    def invoke(self, task_input: Any, ctx: Any = None) -> Any: ...
    def to_output(self, value: Any) -> Any: ...


class FlowLike(Protocol):
    """What the worker needs of a flow (pgflow.dsl.Flow provides it)."""

    @property
    def slug(self) -> str: ...
    @property
    def steps(self) -> Mapping[str, StepLike]: ...
    def shape(self) -> dict[str, Any]: ...


def _backoff(failures: int) -> float:
    """Exponential backoff with jitter: 0.1 s, 0.2 s, ... capped at 5 s."""
    base: float = min(_BACKOFF_CAP, _BACKOFF_START * 2 ** max(0, failures - 1))
    return base * random.uniform(0.8, 1.2)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientDatabaseError | psycopg.OperationalError | psycopg.InterfaceError | OSError)


class _Slots:
    """Free execution slots. A poller reserves up to a batch before it reads; each running task
    holds one slot and gives it back when it has reported its result."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._freed = asyncio.Event()

    async def reserve(self, most: int) -> int:
        while self.free <= 0:
            self._freed.clear()
            await self._freed.wait()
        n = min(most, self.free)
        self.free -= n
        return n

    def release(self, n: int) -> None:
        self.free += n
        if n > 0:
            self._freed.set()


# What a submitted result became: not recorded (the call failed: report it another way),
# recorded, or recorded with the submitter's execution slot handed to a task the call claimed.
_FAILED, _RECORDED, _HANDED_OVER = 0, 1, 2


class _CompletionBatcher:
    """Collects task results and sends them in one call at a time: results that arrive while a
    call is in flight go together in the next one (group commit), so an idle worker reports at
    once and a busy one pays one round trip and one transaction per batch instead of per task.
    When ``claim(flow_slug, n)`` names a worker id and a count for the flow most of a batch's
    results belong to, the call is ``pgflow.complete_tasks_and_claim``: the tasks it makes ready in
    that flow are started for this worker in the same transaction and go to ``on_claimed``, each
    taking the slot of one of the batch's submitters (told _HANDED_OVER), whatever the submitter's
    flow; otherwise ``pgflow.complete_tasks_count``. A submitter told _FAILED reports through
    complete_task itself."""

    def __init__(
        self,
        claim: Callable[[str, int], tuple[uuid.UUID, int] | None],
        on_claimed: Callable[[str, list[tuple[StepTask, QueueMessage]]], None],
    ) -> None:
        self._pending: list[tuple[Completion, str, asyncio.Future[int]]] = []
        self._wake = asyncio.Event()
        self._claim = claim
        self._on_claimed = on_claimed
        self.disabled = False

    def submit(self, completion: Completion, flow_slug: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((completion, flow_slug, fut))
        self._wake.set()
        return fut

    async def run(self, sql: AsyncPgflowSqlClient, hot: _HotConnection) -> None:
        batch: list[tuple[Completion, str, asyncio.Future[int]]] = []
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    batch = self._pending[:_MAX_COMPLETION_BATCH]
                    del self._pending[:_MAX_COMPLETION_BATCH]
                    await self._send(sql, hot, batch)
                    batch = []
        finally:
            for _, _, fut in (*batch, *self._pending):
                if not fut.done():
                    fut.set_result(_FAILED)
            self._pending.clear()

    async def _send(
        self, sql: AsyncPgflowSqlClient, hot: _HotConnection, batch: list[tuple[Completion, str, asyncio.Future[int]]]
    ) -> None:
        completions = [c for c, _, _ in batch]
        # Claims are for one flow (a worker id serves one queue): the flow most of the batch's
        # results belong to. Any result's slot can take a claimed task, whatever its flow.
        flow_slug = batch[0][1]
        if any(f != flow_slug for _, f, _ in batch):
            flow_slug = Counter(f for _, f, _ in batch).most_common(1)[0][0]
        claim = self._claim(flow_slug, len(batch))
        claimed: list[tuple[StepTask, QueueMessage]] = []
        try:
            async with hot.use() as conn:
                if claim is None:
                    await sql.complete_tasks_count(completions, conn=conn)
                else:
                    claimed = await sql.complete_tasks_and_claim(completions, *claim, conn=conn)
            outcome = _RECORDED
        except asyncio.CancelledError:
            raise
        except SchemaVersionError as exc:  # the batched functions are not installed
            logger.warning("batched completion unavailable (%s): reporting one task at a time", exc)
            self.disabled = True
            outcome = _FAILED
        except Exception as exc:
            logger.info("batched completion of %d task(s) failed (%s): reporting them one by one", len(batch), exc)
            outcome = _FAILED
        for i, (_, _, fut) in enumerate(batch):
            if not fut.done():
                fut.set_result(_HANDED_OVER if i < len(claimed) else outcome)
        if claimed:
            self._on_claimed(flow_slug, claimed)


async def _alive(conn: psycopg.AsyncConnection[Any]) -> bool:
    """One round trip on a connection that has been idle: False if it is gone."""
    try:
        await AsyncConnectionPool.check_connection(conn)
    except asyncio.CancelledError:
        raise
    except Exception:
        return False
    return True


class _HotConnection:
    """The connection of the worker's two per-batch calls (read-and-start, completion batch).
    They follow each other, so one backend serves both and stays warm (its caches, its prepared
    statements) instead of the pool handing them out in turn. Opened on first use; tested with a
    round trip when it has been idle over 1 s (as the pool's connections are); closed when that
    test or a call on it fails with a connection error, and opened again by the next call."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._used = 0.0
        self._users = 0
        self._opening = asyncio.Lock()  # two callers finding no connection open one, not two

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # Both callers may hold it at once (psycopg runs their queries one after the other); it is
        # replaced only when nobody holds it, or by a caller whose query broke it.
        async with self._opening:
            conn = self._conn
            if conn is not None and self._users == 0 and (
                conn.closed or (time.monotonic() - self._used > _CHECK_IDLE_AFTER and not await _alive(conn))
            ):
                await self._drop(conn)
                conn = None
            if conn is None:
                conn = await asyncio.wait_for(
                    psycopg.AsyncConnection.connect(self._dsn, autocommit=True), _CONNECT_TIMEOUT
                )
                self._conn = conn
            self._users += 1
        assert conn is not None
        try:
            yield conn
        except BaseException:
            if conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
                await self._drop(conn)
            raise
        finally:
            self._users -= 1
            self._used = time.monotonic()

    async def _drop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._conn is conn:
            self._conn = None
        with contextlib.suppress(Exception):
            await conn.close()

    async def close(self) -> None:
        if self._conn is not None:
            await self._drop(self._conn)


class Worker:
    """Runs the handlers of one or more flows. See the module docstring.

    ``worker_id`` identifies the worker in ``pgflow.workers`` (default: a random UUID). The
    table holds one queue per row, so with several flows the first flow uses ``worker_id`` and
    each further flow a UUID derived from it (``uuid5(worker_id, flow_slug)``); see
    :attr:`worker_ids`.

    ``compile``: ``"auto"`` calls ``pgflow.ensure_flow_compiled`` (creates a missing flow;
    recompiles a changed one only with ``allow_data_loss=True`` or on a local Supabase, else
    raises FlowShapeMismatch); ``"verify"`` only compares, never writes (FlowShapeMismatch,
    or FlowNotFound when the flow is not compiled); ``"off"`` skips the check.
    """

    def __init__(
        self,
        flows: FlowLike | Sequence[FlowLike],
        dsn: str,
        *,
        concurrency: int = 10,
        batch_size: int = 10,
        visibility_timeout: int = 5,
        max_poll_seconds: float = 2,
        poll_interval_ms: int = 100,
        heartbeat_interval: float = 5.0,
        worker_id: uuid.UUID | str | None = None,
        function_name: str = "pgflow-py",
        compile: CompileMode = "auto",
        allow_data_loss: bool = False,
        shutdown_grace: float = 30.0,
        use_notify: bool = True,
        sync_threads: int | None = None,
        maintenance_interval: float = 15.0,
        max_pool_size: int | None = None,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
        batch_completions: bool = True,
        claim_next_tasks: bool = True,
    ) -> None:
        flow_list: list[FlowLike] = list(flows) if isinstance(flows, Sequence) else [flows]
        if not flow_list:
            raise ValueError("Worker needs at least one flow")
        slugs = [f.slug for f in flow_list]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"the same flow slug is given twice: {slugs}")
        for name, value in (
            ("concurrency", concurrency),
            ("batch_size", batch_size),
            ("visibility_timeout", visibility_timeout),
            ("poll_interval_ms", poll_interval_ms),
        ):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if max_poll_seconds < 0 or heartbeat_interval <= 0 or shutdown_grace < 0 or maintenance_interval < 0:
            raise ValueError("max_poll_seconds, shutdown_grace, maintenance_interval must be >= 0, heartbeat > 0")
        if compile not in ("auto", "verify", "off"):
            raise ValueError(f"compile must be 'auto', 'verify' or 'off', got {compile!r}")
        if sync_threads is not None and sync_threads < 1:
            raise ValueError("sync_threads must be >= 1")

        self._flows: dict[str, FlowLike] = {f.slug: f for f in flow_list}
        self._dsn = dsn
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._vt = visibility_timeout
        self._max_poll_seconds = max_poll_seconds
        self._poll_interval_ms = poll_interval_ms
        self._heartbeat_interval = heartbeat_interval
        base_id = uuid.uuid4() if worker_id is None else uuid.UUID(str(worker_id))
        self.worker_id: uuid.UUID = base_id
        self.worker_ids: dict[str, uuid.UUID] = {
            slug: base_id if i == 0 else uuid.uuid5(base_id, slug) for i, slug in enumerate(self._flows)
        }
        self._function_name = function_name
        self._compile: CompileMode = compile
        self._allow_data_loss = allow_data_loss
        self._grace = shutdown_grace
        self._use_notify = use_notify
        self._sync_threads = sync_threads or concurrency
        self._maintenance_interval = maintenance_interval
        self._max_pool_size = max_pool_size or (len(self._flows) + min(concurrency, 10) + 2)
        self._max_output_bytes = max_output_bytes

        # Runtime state, created in run() on the worker's loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._ran = False
        self._shutdown = asyncio.Event()  # ctx.shutdown: set when draining starts
        self.started = asyncio.Event()
        """Set once the worker is registered and polling (for tests and embedding apps)."""
        self._inflight: set[asyncio.Task[Any]] = set()
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {slug: asyncio.Event() for slug in self._flows}
        self._listening = False  # the LISTEN connection is up (pollers use read_and_start_tasks)
        self._listen_active = False  # ... and LISTEN pgflow_tasks is in effect on it
        self._listen_on = asyncio.Event()  # set while _listen_active
        self._listen_wanted = asyncio.Event()  # a poller going idle asks for LISTEN
        self._idle_pollers = 0
        self._last_idle = 0.0
        self._deprecated: set[str] = set()
        self._registered: set[str] = set()
        self._flow_inputs: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self._executor: ThreadPoolExecutor | None = None
        self._pool: AsyncConnectionPool[Any] | None = None
        self._client: AsyncPgflowSqlClient | None = None
        self._slots = _Slots(concurrency)
        self._batch_completions = batch_completions
        self._claim_next = claim_next_tasks
        self._completions: _CompletionBatcher | None = None
        self._hot = _HotConnection(dsn)
        self._conn_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self.stats: dict[str, int] = {"started": 0, "completed": 0, "failed": 0, "abandoned": 0}

    # -- public ----------------------------------------------------------------------------

    @property
    def flows(self) -> Mapping[str, FlowLike]:
        return self._flows

    @property
    def is_running(self) -> bool:
        return self._loop is not None and not (self._stop_event is not None and self._stop_event.is_set())

    def stop(self) -> None:
        """Ask the worker to drain and stop. Safe from any thread and from the worker's loop;
        calling it before run() makes run() return at once."""
        self._stop_requested = True
        loop, event = self._loop, self._stop_event
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Start, serve until stop() or deprecation, drain, clean up. Raises SchemaVersionError,
        FlowShapeMismatch or FlowNotFound when the database does not fit the flows; transient
        database errors never end it."""
        if self._ran:
            raise RuntimeError("a Worker can run only once; create a new one")
        self._ran = True
        self._stop_event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self._stop_requested:
            self._stop_event.set()
        self._executor = ThreadPoolExecutor(max_workers=self._sync_threads, thread_name_prefix="pgflow-worker")
        self._pool = AsyncConnectionPool(
            self._dsn,
            min_size=1,
            max_size=self._max_pool_size,
            kwargs={"autocommit": True},
            open=False,
            timeout=10.0,
            check=self._check_connection,
            reset=self._connection_returned,
            name=f"pgflow-worker-{self.worker_id}",
        )
        self._client = AsyncPgflowSqlClient(self._pool, max_output_bytes=self._max_output_bytes)
        background: list[asyncio.Task[None]] = []
        try:
            await self._pool.open(wait=False)
            if not await self._start():
                return
            logger.info(
                "worker started",
                extra={"worker_id": str(self.worker_id), "flows": list(self._flows), "concurrency": self._concurrency},
            )
            background.append(asyncio.create_task(self._heartbeat_loop(), name="pgflow-heartbeat"))
            if self._batch_completions:
                self._completions = _CompletionBatcher(self._claim_for, self._run_claimed)
                background.append(
                    asyncio.create_task(self._completions.run(self._client, self._hot), name="pgflow-complete")
                )
            if self._maintenance_interval > 0:
                background.append(asyncio.create_task(self._maintenance_loop(), name="pgflow-maintenance"))
            if self._use_notify:
                background.append(asyncio.create_task(self._listen_loop(), name="pgflow-listen"))
                # pollers start once LISTEN is up (or could not be set up quickly): a poller that
                # started first would wait in read_with_poll for up to max_poll_seconds, deaf
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._listen_on.wait(), _LISTEN_ON_TIMEOUT)
            for slug, flow in self._flows.items():
                self._pollers[slug] = asyncio.create_task(self._poll_loop(flow), name=f"pgflow-poll-{slug}")
            self.started.set()
            await self._stop_event.wait()
            await self._drain()
        finally:
            await self._cleanup(background)

    # -- start -----------------------------------------------------------------------------

    async def _start(self) -> bool:
        """Schema check, compilation, registration; retried across transient errors. False:
        stop() was called before the worker could start."""
        failures = 0
        while not self._stopping:
            try:
                await self._check_schema()
                for flow in self._flows.values():
                    await self._compile_flow(flow)
                for slug in self._flows:
                    await self._register(slug)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                failures += 1
                logger.warning("database unavailable while starting, retrying: %s", exc)
                await self._sleep(_backoff(failures))
        return False

    async def _check_schema(self) -> None:
        require_schema_version(await self._sql.schema_version())

    async def _compile_flow(self, flow: FlowLike) -> None:
        if self._compile == "off":
            return
        shape = flow.shape()
        if self._compile == "verify":
            result = await self._sql.verify_flow_shape(flow.slug, shape)
            hint = "compile='verify' never changes the database: compile the new definition (or use a new slug)"
        else:
            result = await self._sql.ensure_flow_compiled(flow.slug, shape, self._allow_data_loss)
            hint = (
                "start the worker with allow_data_loss=True to drop this flow with all its runs and recompile "
                "it, or give the changed flow a new slug"
            )
        if result.status is CompileStatus.MISMATCH:
            raise FlowShapeMismatch(flow.slug, result.differences, hint)
        logger.info("flow %s: %s", flow.slug, result.status.value, extra={"flow_slug": flow.slug})

    async def _register(self, slug: str) -> None:
        await self._sql.register_worker(self.worker_ids[slug], slug, self._function_name)
        self._registered.add(slug)

    # -- polling ---------------------------------------------------------------------------

    async def _poll_loop(self, flow: FlowLike) -> None:
        slug = flow.slug
        failures = 0
        while True:
            reserved = await self._slots.reserve(self._batch_size)
            try:
                if self._stopping or slug in self._deprecated:
                    return
                notify = self._use_notify and self._listening
                if notify:
                    self._wakeups[slug].clear()  # before reading: a notification from now on counts
                    # One call reads and starts (pgflow.read_and_start_tasks). Its tasks must run
                    # even if this poller is cancelled (stop, deprecation): it is its own task.
                    starter = self._spawn(self._read_and_start(flow, reserved))
                    reserved = 0
                    got = await asyncio.shield(starter)
                else:
                    owned, reserved = reserved, 0
                    got = await self._read_then_start(flow, owned)
                failures = 0
            except asyncio.CancelledError:
                raise
            except WorkerNotFound:
                logger.warning("worker row missing in pgflow.workers, registering again", extra={"flow_slug": slug})
                failures += 1
                with contextlib.suppress(PgflowError, psycopg.Error):
                    await self._register(slug)
                await asyncio.sleep(_backoff(failures))
                continue
            except Exception as exc:
                failures += 1
                level = logging.WARNING if _is_transient(exc) else logging.ERROR
                logger.log(level, "polling %s failed (%s), retrying", slug, exc, extra={"flow_slug": slug})
                await asyncio.sleep(_backoff(failures))
                continue
            finally:
                self._slots.release(reserved)
            if not got and notify:
                await self._idle_wait(slug)

    async def _idle_wait(self, slug: str) -> None:
        """Nothing visible: sleep until a notification for this flow, the next delayed
        message (retry backoff, start delay, expired visibility) or max_poll_seconds. When LISTEN
        was dropped while every poller was busy, it is asked back and the poller returns at once
        to read again: what was sent before LISTEN took effect is visible to that read, anything
        sent after it notifies."""
        self._idle_pollers += 1
        try:
            if not self._listen_active:
                self._listen_wanted.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._listen_on.wait(), _LISTEN_ON_TIMEOUT)
                if self._listen_active:
                    return
            await self._wait_for_work(slug)
        finally:
            self._idle_pollers -= 1
            self._last_idle = asyncio.get_running_loop().time()

    async def _wait_for_work(self, slug: str) -> None:
        timeout = max(self._max_poll_seconds, self._poll_interval_ms / 1000)
        try:
            next_in = await self._sql.next_visible_in(slug)
        except asyncio.CancelledError:
            raise
        except Exception:
            next_in = None
            timeout = self._poll_interval_ms / 1000
        if next_in is not None:
            # <= 0: visible but locked by another reader right now; do not spin on it.
            timeout = min(timeout, next_in + 0.005 if next_in > 0 else self._poll_interval_ms / 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeups[slug].wait(), timeout)

    async def _read_then_start(self, flow: FlowLike, reserved: int) -> int:
        """Without NOTIFY: ``pgmq.read_with_poll`` (waits up to max_poll_seconds), then
        ``start_tasks``. Owns ``reserved`` slots; returns how many tasks started."""
        slug = flow.slug
        try:
            messages = await self._sql.read_messages(
                slug,
                self._vt,
                reserved,
                max_poll_seconds=self._max_poll_seconds,
                poll_interval_ms=self._poll_interval_ms,
            )
        except BaseException:
            self._slots.release(reserved)
            raise
        if not messages or self._stopping or slug in self._deprecated:
            self._slots.release(reserved)
            return 0  # stopped while reading: leave them, they reappear after the vt
        # Once start_tasks is sent, its tasks must run even if this poller is cancelled (stop,
        # deprecation): the batch runs as its own task.
        starter = self._spawn(self._start_batch(flow, messages, reserved))
        await asyncio.shield(starter)
        return len(messages)

    async def _read_and_start(self, flow: FlowLike, reserved: int) -> int:
        """Read and start up to ``reserved`` tasks in one call, run them; returns how many."""
        slug = flow.slug
        try:
            async with self._hot.use() as conn:
                # Checked again once the connection is ours (opening it takes a moment): a worker
                # told to stop meanwhile must not start new tasks.
                if self._stopping or slug in self._deprecated:
                    started = []
                else:
                    started = await self._sql.read_and_start_tasks(
                        slug, self.worker_ids[slug], self._vt, reserved, conn=conn
                    )
        except BaseException:
            self._slots.release(reserved)
            raise
        self._slots.release(reserved - len(started))
        self.stats["started"] += len(started)
        for task, message in started:
            self._spawn(self._execute(flow, task, message))
        return len(started)

    async def _start_batch(self, flow: FlowLike, messages: list[QueueMessage], reserved: int) -> None:
        slug = flow.slug
        try:
            tasks = await self._sql.start_tasks(slug, [m.msg_id for m in messages], self.worker_ids[slug])
        except BaseException:
            self._slots.release(reserved)
            raise
        self._slots.release(reserved - len(tasks))
        by_id = {m.msg_id: m for m in messages}
        for task in tasks:
            self.stats["started"] += 1
            self._spawn(self._execute(flow, task, by_id.get(task.msg_id)))

    def _claim_for(self, flow_slug: str, n: int) -> tuple[uuid.UUID, int] | None:
        """Whether a completion batch of ``n`` results of this flow may take the tasks it makes
        ready (their slots are the batch's own): not when stopping or told to stop polling."""
        if not self._claim_next or self._stopping or flow_slug in self._deprecated or flow_slug not in self._flows:
            return None
        return self.worker_ids[flow_slug], n

    def _run_claimed(self, flow_slug: str, claimed: list[tuple[StepTask, QueueMessage]]) -> None:
        # Started in the database already: they run even if the worker is stopping now.
        flow = self._flows[flow_slug]
        self.stats["started"] += len(claimed)
        for task, message in claimed:
            self._spawn(self._execute(flow, task, message))

    def _spawn(self, coro: Awaitable[T]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(coro)
        self._inflight.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:  # also marks it retrieved
            logger.debug("background task failed: %r", task.exception())

    # -- execution -------------------------------------------------------------------------

    async def _execute(self, flow: FlowLike, task: StepTask, message: QueueMessage | None) -> None:
        debug = logger.isEnabledFor(logging.DEBUG)
        handed_over = False  # this task's slot went to a task its completion claimed
        try:
            step = flow.steps.get(task.step_slug)
            if step is None:
                await self._report_failure(
                    task,
                    f"PgflowError: step {task.step_slug!r} is not defined in this worker's flow {flow.slug!r}",
                )
                return
            ctx = Context(
                run_id=task.run_id,
                flow_slug=task.flow_slug,
                step_slug=task.step_slug,
                task_index=task.task_index,
                msg_id=task.msg_id,
                attempt=max(message.read_ct, 1) if message is not None else 1,  # claimed: never read
                worker_id=self.worker_ids[flow.slug],
                shutdown=self._shutdown,
                task=task,
                message=message,
                _load_flow_input=lambda: self._flow_input(task.run_id),
                _loop=self._loop,
            )
            handler_input = task.flow_input if step.step_type == "single" and not step.depends_on else task.input
            if debug:
                logger.debug("task started", extra=_task_extra(task))
            try:
                if step.is_async:
                    output = step.to_output(await step.invoke(handler_input, ctx))
                else:
                    loop = asyncio.get_running_loop()
                    output = await loop.run_in_executor(self._executor, _run_sync, step, handler_input, ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("task failed: %s: %s", type(exc).__name__, exc, extra=_task_extra(task), exc_info=exc)
                await self._report_failure(task, f"{type(exc).__name__}: {exc}")
                return
            try:
                handed_over = await self._complete(task, output)
            except InvalidOutput as exc:
                logger.warning("task output rejected: %s", exc, extra=_task_extra(task))
                await self._report_failure(task, f"InvalidOutput: {exc}")
                return
            self.stats["completed"] += 1
            if debug:
                logger.debug("task completed", extra=_task_extra(task))
        finally:
            if not handed_over:
                self._slots.release(1)

    async def _complete(self, task: StepTask, output: Any) -> bool:
        """Report a result: through the completion batcher when it runs, else (or when its call
        failed) with complete_task. InvalidOutput is raised before any SQL. True when the task's
        slot was handed to a task the batch claimed."""
        batcher = self._completions
        guarded = False
        if batcher is not None and not batcher.disabled:
            completion = self._sql.completion(task.run_id, task.step_slug, task.task_index, output)
            outcome = await batcher.submit(completion, task.flow_slug)
            if outcome != _FAILED:
                return outcome == _HANDED_OVER
            guarded = True  # the failed batch may have committed before its error was seen
        await self._report(
            lambda retry: self._sql.complete_task(
                task.run_id,
                task.step_slug,
                task.task_index,
                output,
                expected_attempt=task.attempts_count if retry or guarded else None,
            ),
            task,
        )
        return False

    async def _report_failure(self, task: StepTask, message: str) -> None:
        # Always guarded: a fail_task replayed after a lost acknowledgement must not fail the
        # task's next attempt (pgflow's fail_task names no attempt).
        await self._report(
            lambda _retry: self._sql.fail_task(
                task.run_id, task.step_slug, task.task_index, message, expected_attempt=task.attempts_count
            ),
            task,
        )
        self.stats["failed"] += 1

    async def _report(self, call: Callable[[bool], Awaitable[object]], task: StepTask) -> None:
        """Send complete_task/fail_task (``call(is_retry)``), retrying across a database outage
        for a while. A retry may be a replay of a call that did commit (its acknowledgement was
        lost), so retries are guarded by the task's attempt number: a report for an attempt
        that is over (the task was retried, requeued or finished meanwhile) changes nothing."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + _REPORT_RETRY_WINDOW
        failures = 0
        while True:
            try:
                if await call(failures > 0) is None:
                    logger.info(
                        "task result not recorded: the task is no longer on this attempt", extra=_task_extra(task)
                    )
                return
            except asyncio.CancelledError:
                raise
            except InvalidOutput:
                raise
            except Exception as exc:
                failures += 1
                if not _is_transient(exc) or loop.time() >= give_up_at:
                    logger.error(
                        "could not report the task result (%s); its message will become visible again and "
                        "the task will be retried",
                        exc,
                        extra=_task_extra(task),
                    )
                    return
                logger.warning("reporting the task result failed (%s), retrying", exc, extra=_task_extra(task))
                await asyncio.sleep(_backoff(failures))

    async def _check_connection(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The pool's check on borrow. A connection returned moments ago is known good; one idle
        longer (or new) is tested with a round trip, which catches connections a restart or
        pg_terminate_backend closed while idle. A connection that breaks in use fails its query,
        which the callers retry (transient error) and the pool then discards."""
        used = self._conn_used.get(conn)
        if used is None or time.monotonic() - used > _CHECK_IDLE_AFTER:
            await AsyncConnectionPool.check_connection(conn)

    async def _connection_returned(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn_used[conn] = time.monotonic()

    async def _flow_input(self, run_id: uuid.UUID) -> Any:
        cache = self._flow_inputs
        if run_id in cache:
            cache.move_to_end(run_id)
            return cache[run_id]
        value = await self._sql.get_flow_input(run_id)
        cache[run_id] = value
        while len(cache) > _FLOW_INPUT_CACHE:
            cache.popitem(last=False)
        return value

    # -- background ------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            for slug, wid in self.worker_ids.items():
                if slug in self._deprecated:
                    continue
                try:
                    deprecated = await self._sql.heartbeat(wid)
                except asyncio.CancelledError:
                    raise
                except WorkerNotFound:
                    logger.warning("worker row missing in pgflow.workers, registering again", extra={"flow_slug": slug})
                    with contextlib.suppress(PgflowError, psycopg.Error):
                        await self._register(slug)
                    continue
                except Exception as exc:
                    logger.warning("heartbeat failed: %s", exc, extra={"flow_slug": slug})
                    continue
                if deprecated:
                    self._deprecate(slug)

    def _deprecate(self, slug: str) -> None:
        logger.warning("worker deprecated in pgflow.workers: stopping polling %s", slug, extra={"flow_slug": slug})
        self._deprecated.add(slug)
        poller = self._pollers.get(slug)
        if poller is not None:
            poller.cancel()
        if self._deprecated >= set(self._flows) and self._stop_event is not None:
            self._stop_event.set()

    async def _maintenance_loop(self) -> None:
        # A random first delay spreads the sweeps of workers started together.
        await asyncio.sleep(random.uniform(0, self._maintenance_interval))
        while True:
            try:
                requeued = await self._sql.requeue_stalled_tasks()
                if requeued:
                    logger.info("requeued %d stalled task(s)", requeued)
            except asyncio.CancelledError:
                raise
            except SchemaVersionError:
                logger.info("pgflow.requeue_stalled_tasks() is not installed: maintenance sweep disabled")
                return
            except Exception as exc:
                logger.warning("maintenance sweep failed: %s", exc)
            await asyncio.sleep(self._maintenance_interval)

    async def _listen_loop(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await self._set_listen(conn, True)
                    self._listening = True
                    failures = 0
                    for event in self._wakeups.values():  # catch up on what was missed while down
                        event.set()
                    await self._listen_on_demand(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                logger.warning("LISTEN connection lost (%s); polling until it is back", exc)
            finally:
                self._listening = False
                self._listen_active = False
                self._listen_on.clear()
                for event in self._wakeups.values():  # idle pollers switch to read_with_poll
                    event.set()
            await asyncio.sleep(_backoff(failures))

    async def _listen_on_demand(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Deliver wake-ups while a poller waits for work (or did within _LISTEN_HOLD); UNLISTEN
        while all are busy, and LISTEN again as soon as one goes idle."""
        loop = asyncio.get_running_loop()
        while True:
            if self._listen_active:
                async for note in conn.notifies(timeout=_LISTEN_HOLD / 2):
                    woken = self._wakeups.get(note.payload)
                    if woken is not None:
                        woken.set()
                if self._idle_pollers == 0 and loop.time() - self._last_idle > _LISTEN_HOLD:
                    await self._set_listen(conn, False)
            else:
                self._listen_wanted.clear()
                if self._idle_pollers == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._listen_wanted.wait(), _LISTEN_HOLD)
                if self._idle_pollers > 0:
                    await self._set_listen(conn, True)
                else:
                    await conn.execute("select 1")  # a connection that died while unused shows here

    async def _set_listen(self, conn: psycopg.AsyncConnection[Any], on: bool) -> None:
        if on:
            await listen_for_tasks(conn)
            self._listen_active = True
            self._listen_on.set()
        else:
            self._listen_active = False
            self._listen_on.clear()
            await conn.execute("unlisten pgflow_tasks")

    # -- stop ------------------------------------------------------------------------------

    @property
    def _stopping(self) -> bool:
        return self._stop_event is not None and self._stop_event.is_set()

    @property
    def _sql(self) -> AsyncPgflowSqlClient:
        if self._client is None:
            raise RuntimeError("the worker is not running")
        return self._client

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when stop() is called."""
        assert self._stop_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _drain(self) -> None:
        logger.info("worker stopping: draining %d in-flight task(s)", len(self._inflight))
        self._shutdown.set()
        pollers = list(self._pollers.values())
        for p in pollers:
            if not p.done() and not p.cancelling():  # a second cancel would interrupt psycopg's query cancel
                p.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        while self._inflight:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._inflight), timeout=remaining)
        if self._inflight:
            self.stats["abandoned"] += len(self._inflight)
            logger.warning(
                "%d task(s) still running after shutdown_grace=%ss: abandoned unreported (their messages "
                "become visible again; requeue_stalled_tasks recovers them)",
                len(self._inflight),
                self._grace,
            )

    async def _cleanup(self, background: list[asyncio.Task[None]]) -> None:
        leftovers = [t for t in (*background, *self._pollers.values(), *self._inflight) if not t.done()]
        for t in leftovers:
            if not t.cancelling():
                t.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=5.0)
        if self._client is not None:
            for slug in self._registered:
                try:
                    await asyncio.wait_for(self._client.mark_worker_stopped(self.worker_ids[slug]), 5.0)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("could not mark the worker stopped: %s", exc, extra={"flow_slug": slug})
        await self._hot.close()
        if self._pool is not None:
            await self._pool.close(timeout=5.0)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._stop_event is not None:
            self._stop_event.set()
        logger.info("worker stopped", extra={"worker_id": str(self.worker_id), **self.stats})


def _task_extra(task: StepTask) -> dict[str, Any]:
    """Structured logging fields of a task (built only when something is logged)."""
    return {
        "flow_slug": task.flow_slug,
        "run_id": str(task.run_id),
        "step_slug": task.step_slug,
        "task_index": task.task_index,
        "msg_id": task.msg_id,
    }


def _run_sync(step: StepLike, handler_input: Any, ctx: Context) -> Any:
    """Runs in the worker's thread pool: the handler and the conversion of its result."""
    return step.to_output(step.invoke(handler_input, ctx))
