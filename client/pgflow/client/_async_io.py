"""The one cursor helper the async client and its mixins share (``_sync_io.py`` is generated from
it by ``scripts/async_to_sync.py``)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import AsyncRowFactory

from pgflow.client._base import Params, Query, R, has_rows


async def execute_as(
    c: psycopg.AsyncConnection[Any], query: Query, params: Params | None, rows: AsyncRowFactory[R]
) -> list[R]:
    """Run ``query`` on ``c`` and return its rows made by ``rows`` (none for a statement without)."""
    async with c.cursor(row_factory=rows) as cur:
        await cur.execute(query, params)
        return await cur.fetchall() if has_rows(cur) else []
