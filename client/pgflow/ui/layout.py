"""Lays out a flow's DAG for drawing: layers by longest path from the roots, left to right.

Pure Python, no dependencies; the dashboard turns the result into SVG (templates/_dag.html).

The steps are placed in columns: a root (no dependencies) in column 0, every other step one column
right of its deepest dependency, so every edge points right. An edge that spans several columns is
routed through a bend point in each column it crosses (a virtual node that takes a row like a real
one), so it never runs through a step's box. Rows inside a column start in definition order and
are then reordered by a few sweeps of the barycenter heuristic (each node moves towards the mean
row of its neighbours in the previous column, then in the next one), which removes most edge
crossings of the DAGs people write; the result is deterministic.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

NODE_WIDTH = 168.0
NODE_HEIGHT = 48.0
COLUMN_GAP = 56.0
ROW_GAP = 18.0
MARGIN = 8.0
SWEEPS = 4

# A step (its slug) or a bend point of a long edge (edge index, column).
Node: TypeAlias = str | tuple[int, int]


@dataclass(frozen=True, slots=True)
class NodeBox:
    slug: str
    column: int
    row: int
    x: float
    y: float
    width: float = NODE_WIDTH
    height: float = NODE_HEIGHT


@dataclass(frozen=True, slots=True)
class EdgePath:
    source: str
    target: str
    points: tuple[tuple[float, float], ...]

    @property
    def d(self) -> str:
        """The SVG path: horizontal-tangent cubic curves through the points."""
        (x0, y0), rest = self.points[0], self.points[1:]
        parts = [f"M{x0:.1f},{y0:.1f}"]
        for x1, y1 in rest:
            mid = (x0 + x1) / 2
            parts.append(f"C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
            x0, y0 = x1, y1
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Layout:
    width: float
    height: float
    nodes: tuple[NodeBox, ...]
    edges: tuple[EdgePath, ...]

    def node(self, slug: str) -> NodeBox:
        for n in self.nodes:
            if n.slug == slug:
                return n
        raise KeyError(slug)


def columns_by_longest_path(steps: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Column of each step: 0 for a root, else 1 + the deepest column among its dependencies.
    `edges` are (dependency, step) pairs. Raises ValueError naming an unknown step or a cycle."""
    known = set(steps)
    if len(known) != len(steps):
        raise ValueError("duplicate step slugs: " + ", ".join(sorted({s for s in steps if steps.count(s) > 1})))
    deps: dict[str, list[str]] = {s: [] for s in steps}
    children: dict[str, list[str]] = {s: [] for s in steps}
    for dep, step in edges:
        for name in (dep, step):
            if name not in known:
                raise ValueError(f"edge {dep!r} -> {step!r} names an unknown step {name!r}")
        deps[step].append(dep)
        children[dep].append(step)
    waiting = {s: len(deps[s]) for s in steps}
    ready = [s for s in steps if waiting[s] == 0]
    column: dict[str, int] = {}
    while ready:
        step = ready.pop(0)
        column[step] = max((column[d] + 1 for d in deps[step]), default=0)
        for child in children[step]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(column) != len(steps):
        stuck = [s for s in steps if s not in column]
        raise ValueError("the dependencies form a cycle through: " + ", ".join(stuck))
    return column


def layout_dag(steps: Sequence[str], edges: Iterable[tuple[str, str]]) -> Layout:
    """Place `steps` (in definition order) and route `edges` ((dependency, step) pairs)."""
    edge_list = list(dict.fromkeys(edges))
    column = columns_by_longest_path(steps, edge_list)
    if not steps:
        return Layout(width=0.0, height=0.0, nodes=(), edges=())

    # Chains of virtual nodes for edges longer than one column; a virtual node is (edge index, column).
    columns: list[list[Node]] = [[] for _ in range(max(column.values()) + 1)]
    for s in steps:
        columns[column[s]].append(s)
    chains: list[list[Node]] = []
    for i, (dep, step) in enumerate(edge_list):
        chain: list[Node] = [dep]
        for c in range(column[dep] + 1, column[step]):
            virtual = (i, c)
            columns[c].append(virtual)
            chain.append(virtual)
        chain.append(step)
        chains.append(chain)
    left: dict[Node, list[Node]] = {}
    right: dict[Node, list[Node]] = {}
    for chain in chains:
        for a, b in itertools.pairwise(chain):
            right.setdefault(a, []).append(b)
            left.setdefault(b, []).append(a)

    def sweep(order: list[list[Node]], forward: bool) -> None:
        rng = range(1, len(order)) if forward else range(len(order) - 2, -1, -1)
        for c in rng:
            ref = order[c - 1] if forward else order[c + 1]
            pos = {n: i for i, n in enumerate(ref)}
            neighbours = left if forward else right
            current = {n: i for i, n in enumerate(order[c])}

            def key(n: Node, pos: dict[Node, int] = pos, neighbours: dict[Node, list[Node]] = neighbours,
                    current: dict[Node, int] = current) -> tuple[float, int]:
                near = [pos[m] for m in neighbours.get(n, ()) if m in pos]
                return (sum(near) / len(near) if near else float(current[n]), current[n])

            order[c].sort(key=key)

    for i in range(SWEEPS):
        sweep(columns, forward=(i % 2 == 0))

    tallest = max(len(c) for c in columns)
    height = MARGIN * 2 + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    width = MARGIN * 2 + len(columns) * NODE_WIDTH + (len(columns) - 1) * COLUMN_GAP
    centre: dict[Node, tuple[float, float]] = {}
    boxes: list[NodeBox] = []
    for c, members in enumerate(columns):
        span = len(members) * NODE_HEIGHT + (len(members) - 1) * ROW_GAP
        top = (height - span) / 2
        x = MARGIN + c * (NODE_WIDTH + COLUMN_GAP)
        for r, n in enumerate(members):
            y = top + r * (NODE_HEIGHT + ROW_GAP)
            centre[n] = (x + NODE_WIDTH / 2, y + NODE_HEIGHT / 2)
            if isinstance(n, str):
                boxes.append(NodeBox(slug=n, column=c, row=r, x=x, y=y))
    definition_order = {s: i for i, s in enumerate(steps)}
    boxes.sort(key=lambda b: definition_order[b.slug])
    paths: list[EdgePath] = []
    for (dep, step), chain in zip(edge_list, chains, strict=True):
        sx, sy = centre[dep]
        tx, ty = centre[step]
        points = [(sx + NODE_WIDTH / 2, sy)]
        points += [centre[v] for v in chain[1:-1]]
        points.append((tx - NODE_WIDTH / 2, ty))
        paths.append(EdgePath(source=dep, target=step, points=tuple(points)))
    return Layout(width=width, height=height, nodes=tuple(boxes), edges=tuple(paths))
