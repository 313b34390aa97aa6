"""The dashboard's DAG layout: columns by longest path, bend points for long edges, few crossings."""

from __future__ import annotations

import itertools

import pytest

from pgflow.ui.layout import NODE_HEIGHT, NODE_WIDTH, columns_by_longest_path, layout_dag


def test_roots_are_in_column_zero_and_each_step_right_of_its_deepest_dependency() -> None:
    steps = ["a", "b", "c", "d", "e"]
    edges = [("a", "c"), ("b", "c"), ("c", "d"), ("a", "d"), ("a", "e")]
    assert columns_by_longest_path(steps, edges) == {"a": 0, "b": 0, "c": 1, "d": 2, "e": 1}


def test_every_edge_points_right_and_boxes_do_not_overlap() -> None:
    steps = ["fetch", "parse", "summarize", "translate", "digest", "notify"]
    edges = [("fetch", "parse"), ("parse", "summarize"), ("parse", "translate"), ("summarize", "digest"),
             ("translate", "digest"), ("fetch", "notify"), ("digest", "notify")]
    layout = layout_dag(steps, edges)
    assert [n.slug for n in layout.nodes] == steps
    for e in layout.edges:
        xs = [x for x, _ in e.points]
        assert xs == sorted(xs) and xs[0] < xs[-1]
        assert e.points[0] == (layout.node(e.source).x + NODE_WIDTH, layout.node(e.source).y + NODE_HEIGHT / 2)
        assert e.points[-1] == (layout.node(e.target).x, layout.node(e.target).y + NODE_HEIGHT / 2)
    for a, b in itertools.combinations(layout.nodes, 2):
        apart_x = a.x + a.width <= b.x or b.x + b.width <= a.x
        apart_y = a.y + a.height <= b.y or b.y + b.height <= a.y
        assert apart_x or apart_y, (a, b)
    for n in layout.nodes:
        assert 0 <= n.x and n.x + n.width <= layout.width and 0 <= n.y and n.y + n.height <= layout.height


def test_a_long_edge_bends_through_each_column_it_crosses_without_touching_a_box() -> None:
    layout = layout_dag(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    long_edge = next(e for e in layout.edges if (e.source, e.target) == ("a", "d"))
    assert len(long_edge.points) == 4  # start, a bend in the columns of b and c, end
    for x, y in long_edge.points[1:-1]:
        for n in layout.nodes:
            assert not (n.x <= x <= n.x + n.width and n.y <= y <= n.y + n.height)
    assert long_edge.d.startswith("M") and long_edge.d.count("C") == 3


def test_siblings_are_ordered_to_avoid_crossings() -> None:
    # Defined in an order that crosses the edges (x1 feeds y2, x2 feeds y1); the sweeps untangle it.
    steps = ["r", "x1", "x2", "y2", "y1"]
    edges = [("r", "x1"), ("r", "x2"), ("x1", "y1"), ("x2", "y2")]
    layout = layout_dag(steps, edges)

    def crossings() -> int:
        pairs = [(layout.node(s).y, layout.node(t).y) for s, t in edges if layout.node(s).column == 1]
        return sum(1 for (a1, b1), (a2, b2) in itertools.combinations(pairs, 2) if (a1 - a2) * (b1 - b2) < 0)

    assert crossings() == 0


def test_layout_is_deterministic() -> None:
    steps = [f"s{i}" for i in range(12)]
    edges = [(f"s{i}", f"s{j}") for i in range(12) for j in range(i + 1, 12) if (i * 7 + j * 3) % 5 == 0]
    first = layout_dag(steps, edges)
    assert all(layout_dag(list(steps), list(edges)) == first for _ in range(3))
    assert len(first.nodes) == 12 and len(first.edges) == len(edges)


def test_a_single_step_and_an_empty_flow() -> None:
    one = layout_dag(["only"], [])
    assert len(one.nodes) == 1 and one.edges == () and one.width > NODE_WIDTH and one.height > NODE_HEIGHT
    empty = layout_dag([], [])
    assert empty.nodes == () and empty.width == 0


def test_bad_graphs_are_refused_with_the_culprit_named() -> None:
    with pytest.raises(ValueError, match="cycle through: a, b"):
        columns_by_longest_path(["a", "b"], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="unknown step 'ghost'"):
        columns_by_longest_path(["a"], [("ghost", "a")])
    with pytest.raises(ValueError, match="duplicate step slugs: a"):
        columns_by_longest_path(["a", "a"], [])
