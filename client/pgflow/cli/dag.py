"""A flow's DAG drawn as text for the terminal (``pgflow status``): a tree of steps, top-down.

Each step hangs under one of its dependencies (the first, in definition order, of those in the
layer just above it: the layers are the dashboard's columns, pgflow.ui.layout's longest path from
the roots), so a step's depth in the tree is its layer and every step is drawn exactly once. A
step with several dependencies also says ``needs: a, b``, so every edge of the DAG is visible::

    fetch            completed
    ├─▶ summarize    started
    │   └─▶ publish  created           needs: summarize, translate
    └─▶ translate    started map 3/10

Pure Python: no database, no terminal control; ``ascii=True`` draws with ``|-> `` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pgflow.ui.layout import columns_by_longest_path

UNICODE = ("├─▶ ", "└─▶ ", "│   ", "    ")
ASCII = ("|-> ", "`-> ", "|   ", "    ")


@dataclass(frozen=True, slots=True)
class DagNode:
    slug: str
    deps: tuple[str, ...]
    label: str  # what follows the slug: its state, a map's done/total


def draw_dag(nodes: Sequence[DagNode], *, ascii: bool = False) -> list[str]:
    """The lines of the drawing; ``nodes`` in definition order. Raises ValueError (from the
    layout) for an unknown dependency or a cycle."""
    slugs = [n.slug for n in nodes]
    column = columns_by_longest_path(slugs, [(d, n.slug) for n in nodes for d in n.deps])
    order = {s: i for i, s in enumerate(slugs)}
    children: dict[str, list[DagNode]] = {s: [] for s in slugs}
    roots: list[DagNode] = []
    for n in nodes:
        above = sorted((d for d in n.deps if column[d] == column[n.slug] - 1), key=order.__getitem__)
        if above:
            children[above[0]].append(n)
        else:
            roots.append(n)
    tee, corner, pipe, blank = ASCII if ascii else UNICODE
    rows: list[tuple[str, DagNode]] = []

    def walk(n: DagNode, prefix: str, connector: str, continuation: str) -> None:
        rows.append((prefix + connector + n.slug, n))
        kids = children[n.slug]
        for i, child in enumerate(kids):
            last = i == len(kids) - 1
            walk(child, prefix + continuation, corner if last else tee, blank if last else pipe)

    for root in roots:
        walk(root, "", "", "")
    width = max((len(head) for head, _ in rows), default=0)
    label_width = max((len(n.label) for _, n in rows), default=0)
    lines = []
    for head, n in rows:
        needs = f"needs: {', '.join(n.deps)}" if len(n.deps) > 1 else ""
        lines.append(f"{head.ljust(width)}  {n.label.ljust(label_width)}  {needs}".rstrip())
    return lines
