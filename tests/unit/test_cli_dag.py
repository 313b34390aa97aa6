"""pgflow.cli.dag: the DAG as a text tree: every step once, at the depth of its layer, under a
dependency in the layer above; `needs:` for steps with several dependencies; ASCII on request."""

from __future__ import annotations

import pytest

from pgflow.cli.dag import DagNode, draw_dag


def _n(slug: str, *deps: str, label: str = "created") -> DagNode:
    return DagNode(slug, deps, label)


def test_a_diamond_with_a_long_edge_and_two_roots() -> None:
    nodes = [
        _n("fetch", label="completed"), _n("a", "fetch"), _n("b", "fetch", label="started map 1/3"),
        _n("join", "a", "b"), _n("late", "fetch", "join"), _n("other"),
    ]
    assert draw_dag(nodes) == [
        "fetch             completed",
        "├─▶ a             created",
        "│   └─▶ join      created          needs: a, b",
        "│       └─▶ late  created          needs: fetch, join",
        "└─▶ b             started map 1/3",
        "other             created",
    ]


def test_each_step_hangs_under_a_dependency_of_the_layer_just_above() -> None:
    # c needs a (layer 0) and b (layer 1): it sits under b, at depth 2, whatever the deps' order
    lines = draw_dag([_n("a"), _n("b", "a"), _n("c", "a", "b")], ascii=True)
    assert lines == [
        "a          created",
        "`-> b      created",
        "    `-> c  created  needs: a, b",
    ]


def test_empty_and_bad_graphs() -> None:
    assert draw_dag([]) == []
    with pytest.raises(ValueError, match="cycle"):
        draw_dag([_n("a", "b"), _n("b", "a")])
    with pytest.raises(ValueError, match="unknown step 'nope'"):
        draw_dag([_n("a", "nope")])
