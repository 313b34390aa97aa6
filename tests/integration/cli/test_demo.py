"""`pgflow demo` end to end, as a user runs it: a subprocess that starts its own PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.cli import run_cli

STEPS = ("fetch_articles", "summarise", "word_counts", "extract_keywords", "compose_digest")


def test_demo_runs_the_example_flow_and_exits_0() -> None:
    out = run_cli("demo", timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    m = re.search(r"started a throwaway PostgreSQL on 127\.0\.0\.1:\d+ \((\S+)\)", text)
    assert m, text
    assert "migrated: pgmq + " in text
    assert "compiled flow 'article_digest': 5 steps" in text
    assert re.search(r"^starting run [0-9a-f-]{36} with input", text, re.M)

    # Live progress: every step starts and completes, parents before children, run events around them.
    events = re.findall(r"^\s+[+-]\d+\.\d+s\s+(run|step \w+)\s+(\w+)", text, re.M)
    assert events[0] == ("run", "started") and events[-1] == ("run", "completed")
    for slug in STEPS:
        assert events.index((f"step {slug}", "started")) < events.index((f"step {slug}", "completed"))
    done = events.index(("step fetch_articles", "completed"))
    for slug in ("summarise", "word_counts", "extract_keywords"):
        assert events.index((f"step {slug}", "started")) > done
        assert events.index((f"step {slug}", "completed")) < events.index(("step compose_digest", "started"))
    assert re.search(r"step summarise\s+started\s+\(4 tasks\)", text)

    # The final output, in full.
    assert "run completed in" in text
    body = text.split("; output:\n", 1)[1].split("\nstopped PostgreSQL", 1)[0]
    output = json.loads(body)
    digest = output["compose_digest"]
    assert digest["articles"] == 4 and len(digest["items"]) == 4
    assert digest["total_words"] == sum(item["words"] for item in digest["items"])
    assert len(digest["keywords"]) == 5

    # Stopped cleanly: worker first, then the server, whose directory is gone.
    assert text.index("worker stopped") < text.index("stopped PostgreSQL")
    assert not Path(m.group(1)).exists()
    assert "Traceback" not in out.stderr


def test_demo_options() -> None:
    out = run_cli("demo", "--topic", "python", "--limit", "1", timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"step summarise\s+started\s*$", out.stdout, re.M)  # one task: no count shown
    output = json.loads(out.stdout.split("; output:\n", 1)[1].split("\nstopped PostgreSQL", 1)[0])
    assert output["compose_digest"]["items"][0]["title"] == "Structured shutdown with asyncio"
