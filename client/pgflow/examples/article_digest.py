"""Article digest: a small, realistic DAG that exercises every kind of step.

::

                       ┌─> summarise (map: one task per article) ─┐
    fetch_articles ────┼─> word_counts ───────────────────────────┼─> compose_digest
     (root)            └─> extract_keywords ──────────────────────┘     (join)

Input: ``{"topic": "postgres", "limit": 4}``. ``fetch_articles`` reads a bundled corpus (no
network), three branches run in parallel (the map fans out to one task per article), and
``compose_digest`` joins them. Handlers are a mix of sync and async; ``summarise`` parses its
element into a dataclass and returns one (the DSL turns it into JSON).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pgflow.dsl import Flow

CORPUS: tuple[dict[str, str], ...] = (
    {
        "id": "pg-mvcc",
        "topic": "postgres",
        "title": "How MVCC keeps readers and writers out of each other's way",
        "body": (
            "PostgreSQL keeps several versions of a row. A reader sees the snapshot that was current "
            "when its statement began, so it never waits for a writer. Writers create new row versions "
            "and vacuum later removes the versions no snapshot can see. The price is bloat when vacuum "
            "falls behind, which is why autovacuum tuning matters on busy tables."
        ),
    },
    {
        "id": "pg-skip-locked",
        "topic": "postgres",
        "title": "Queues on Postgres with FOR UPDATE SKIP LOCKED",
        "body": (
            "A worker claims a job with select for update skip locked, so concurrent workers never "
            "block on the same row and never take the same job twice. The claim and the state change "
            "happen in one transaction. Visibility timeouts bring back jobs whose worker crashed. "
            "Queues built this way inherit the durability and the backups of the database."
        ),
    },
    {
        "id": "pg-jsonb",
        "topic": "postgres",
        "title": "Containment queries on jsonb",
        "body": (
            "The jsonb containment operator asks whether one document contains another. A pattern "
            "such as a status key with the value active matches every document that has that key and "
            "value, whatever else it holds. A GIN index makes containment queries fast, and the same "
            "operator can express simple conditions in a workflow definition."
        ),
    },
    {
        "id": "pg-notify",
        "topic": "postgres",
        "title": "LISTEN and NOTIFY for live progress",
        "body": (
            "NOTIFY sends a small payload to every session that listens on a channel, when the "
            "sending transaction commits. Listeners get events in commit order. Payloads are limited "
            "to eight thousand bytes, so large documents are better read from a table after the "
            "notification arrives. It is a simple way to stream progress to a terminal."
        ),
    },
    {
        "id": "py-asyncio",
        "topic": "python",
        "title": "Structured shutdown with asyncio",
        "body": (
            "A long running asyncio service should stop in a known order: stop taking new work, let "
            "in flight tasks finish, then close connections. Signal handlers only set an event; the "
            "main coroutine waits for it and drains. Cancellation is an exception that must not be "
            "swallowed by a broad except clause."
        ),
    },
)

STOPWORDS = frozenset(
    "a an and are as at be by can do every for from get has in is it its many never no not of on one or "
    "same should so such that the their then this to until way when which whose why with".split()
)

flow = Flow("article_digest", max_attempts=3, base_delay=1, timeout=30)


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    topic: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Summary:
    id: str
    title: str
    summary: str
    sentences: int


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@flow.step("fetch_articles")
async def fetch_articles(run: dict[str, Any]) -> list[dict[str, str]]:
    """Root step: the flow input is ``{"topic": ..., "limit": n}``."""
    await asyncio.sleep(0.05)  # stands in for an HTTP call
    topic = str(run.get("topic", "postgres"))
    limit = int(run.get("limit", 10))
    return [a for a in CORPUS if a["topic"] == topic][:limit]


@flow.map("summarise", array="fetch_articles", max_attempts=2)
async def summarise(article: Article) -> Summary:
    """Map step: runs once per article, in parallel."""
    await asyncio.sleep(0.05)  # stands in for a model call
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", article.body) if s.strip()]
    return Summary(id=article.id, title=article.title, summary=sentences[0], sentences=len(sentences))


@flow.step("word_counts", depends_on=["fetch_articles"])
def word_counts(deps: dict[str, list[dict[str, str]]]) -> dict[str, int]:
    """Parallel branch (sync handler, runs in the worker's thread pool)."""
    return {a["id"]: len(_words(a["body"])) for a in deps["fetch_articles"]}


@flow.step("extract_keywords", depends_on=["fetch_articles"], timeout=10)
def extract_keywords(deps: dict[str, list[dict[str, str]]]) -> list[str]:
    """Parallel branch: the most frequent non-trivial words across all articles."""
    counts = Counter(
        w for a in deps["fetch_articles"] for w in _words(a["body"]) if w not in STOPWORDS and len(w) > 3
    )
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]


@flow.step("compose_digest", depends_on=["summarise", "word_counts", "extract_keywords"])
def compose_digest(deps: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Join: the three branches' outputs arrive together as ``{slug: output}``."""
    counts: dict[str, int] = deps["word_counts"]
    items = [
        {"title": s["title"], "summary": s["summary"], "words": counts.get(s["id"], 0)} for s in deps["summarise"]
    ]
    return {
        "articles": len(items),
        "total_words": sum(counts.values()),
        "keywords": deps["extract_keywords"],
        "items": items,
    }
