"""flow.compile() and flow.shape(): byte for byte what pgflow's compileFlow / extractFlowShape emit
(SQL_API.md §15.2, §15.3), and js_json() against JSON.stringify."""

from __future__ import annotations

from typing import Any

import pytest

from pgflow.dsl import Flow, js_json


def noop(x: Any) -> Any:
    return x


def test_minimal_flow() -> None:
    f = Flow("test_flow")
    f.step("step1")(noop)
    assert f.compile() == [
        "SELECT pgflow.create_flow('test_flow');",
        "SELECT pgflow.add_step('test_flow', 'step1');",
    ]


def test_empty_flow_is_just_create_flow() -> None:
    assert Flow("empty").compile() == ["SELECT pgflow.create_flow('empty');"]


def test_flow_options_in_spec_order_and_only_when_defined() -> None:
    assert Flow("f", timeout=30, max_attempts=5, base_delay=2).compile() == [
        "SELECT pgflow.create_flow('f', max_attempts => 5, base_delay => 2, timeout => 30);"
    ]
    assert Flow("f", timeout=30).compile() == ["SELECT pgflow.create_flow('f', timeout => 30);"]
    assert Flow("f", base_delay=1).compile() == ["SELECT pgflow.create_flow('f', base_delay => 1);"]


def test_dependencies_keep_declared_order() -> None:
    f = Flow("deps")
    f.step("b")(noop)
    f.step("a")(noop)
    f.step("c", depends_on=["b", "a"])(noop)
    f.step("d", depends_on=["a"])(noop)
    assert f.compile() == [
        "SELECT pgflow.create_flow('deps');",
        "SELECT pgflow.add_step('deps', 'b');",
        "SELECT pgflow.add_step('deps', 'a');",
        "SELECT pgflow.add_step('deps', 'c', ARRAY['b', 'a']);",
        "SELECT pgflow.add_step('deps', 'd', ARRAY['a']);",
    ]


def test_every_step_option_in_spec_order() -> None:
    f = Flow("opts", max_attempts=3)
    f.step("root")(noop)
    f.step(
        "all",
        depends_on=["root"],
        when_exhausted="skip-cascade",
        when_unmet="fail",
        if_not={"root": {"blocked": True}},
        if_={"root": {"ok": True}},
        start_delay=0,
        timeout=3,
        base_delay=1,
        max_attempts=1,
    )(noop)
    assert f.compile()[2] == (
        "SELECT pgflow.add_step('opts', 'all', ARRAY['root'], max_attempts => 1, base_delay => 1, timeout => 3, "
        "start_delay => 0, required_input_pattern => '{\"root\":{\"ok\":true}}', "
        "forbidden_input_pattern => '{\"root\":{\"blocked\":true}}', when_unmet => 'fail', "
        "when_exhausted => 'skip-cascade');"
    )


def test_defaults_given_explicitly_are_still_emitted() -> None:
    f = Flow("f")
    f.step("s", if_={"a": 1}, when_unmet="skip", when_exhausted="fail")(noop)
    assert f.compile()[1] == (
        "SELECT pgflow.add_step('f', 's', required_input_pattern => '{\"a\":1}', when_unmet => 'skip', "
        "when_exhausted => 'fail');"
    )


def test_quotes_in_patterns_are_doubled_and_json_is_compact() -> None:
    f = Flow("quotes")
    f.step("s", if_={"name": "O'Brien", "tags": ["it's", 'say "hi"'], "n": 1.0, "uni": "é\n"})(noop)
    assert f.compile()[1] == (
        "SELECT pgflow.add_step('quotes', 's', required_input_pattern => "
        "'{\"name\":\"O''Brien\",\"tags\":[\"it''s\",\"say \\\"hi\\\"\"],\"n\":1,\"uni\":\"é\\n\"}');"
    )


def test_map_steps() -> None:
    f = Flow("maps", timeout=10)
    f.map("root_map", max_attempts=2)(noop)
    f.step("list")(noop)
    f.map("each", array="list", start_delay=5, when_exhausted="skip")(noop)
    f.step("join", depends_on=["each", "root_map"])(noop)
    assert f.compile() == [
        "SELECT pgflow.create_flow('maps', timeout => 10);",
        "SELECT pgflow.add_step('maps', 'root_map', max_attempts => 2, step_type => 'map');",
        "SELECT pgflow.add_step('maps', 'list');",
        "SELECT pgflow.add_step('maps', 'each', ARRAY['list'], start_delay => 5, when_exhausted => 'skip', "
        "step_type => 'map');",
        "SELECT pgflow.add_step('maps', 'join', ARRAY['each', 'root_map']);",
    ]
    assert f.compile_sql() == "\n".join(f.compile()) + "\n"


def test_conditional_map_step() -> None:
    f = Flow("cm")
    f.step("src")(noop)
    f.map("each", array="src", if_not={"src": []}, when_unmet="skip-cascade")(noop)
    assert f.compile()[2] == (
        "SELECT pgflow.add_step('cm', 'each', ARRAY['src'], forbidden_input_pattern => '{\"src\":[]}', "
        "when_unmet => 'skip-cascade', step_type => 'map');"
    )


# -- shape -----------------------------------------------------------------------------------


def test_shape_of_a_plain_flow_has_defaults_and_no_options() -> None:
    f = Flow("plain")
    f.step("b")(noop)
    f.step("a")(noop)
    f.step("c", depends_on=["b", "a"])(noop)
    undefined = {"defined": False}
    assert f.shape() == {
        "steps": [
            {"slug": "b", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
             "requiredInputPattern": undefined, "forbiddenInputPattern": undefined},
            {"slug": "a", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
             "requiredInputPattern": undefined, "forbiddenInputPattern": undefined},
            {"slug": "c", "stepType": "single", "dependencies": ["a", "b"], "whenUnmet": "skip",
             "whenExhausted": "fail", "requiredInputPattern": undefined, "forbiddenInputPattern": undefined},
        ]
    }


def test_shape_with_options_patterns_and_maps() -> None:
    f = Flow("full", max_attempts=4, timeout=9)
    f.step("src", base_delay=2)(noop)
    f.map("each", array="src", if_={"src": [1]}, when_unmet="fail", when_exhausted="skip", start_delay=0)(noop)
    shape = f.shape()
    assert shape["options"] == {"maxAttempts": 4, "timeout": 9}
    assert shape["steps"][0]["options"] == {"baseDelay": 2}
    assert shape["steps"][1] == {
        "slug": "each",
        "stepType": "map",
        "dependencies": ["src"],
        "whenUnmet": "fail",
        "whenExhausted": "skip",
        "requiredInputPattern": {"defined": True, "value": {"src": [1]}},
        "forbiddenInputPattern": {"defined": False},
        "options": {"startDelay": 0},
    }
    assert "slug" not in shape
    # Key order matches extractFlowShape's, so the serialised shape matches JSON.stringify's too.
    assert f.shape_json() == (
        '{"steps":[{"slug":"src","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail",'
        '"requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},'
        '"options":{"baseDelay":2}},{"slug":"each","stepType":"map","dependencies":["src"],"whenUnmet":"fail",'
        '"whenExhausted":"skip","requiredInputPattern":{"defined":true,"value":{"src":[1]}},'
        '"forbiddenInputPattern":{"defined":false},"options":{"startDelay":0}}],'
        '"options":{"maxAttempts":4,"timeout":9}}'
    )


def test_shape_is_a_fresh_copy() -> None:
    f = Flow("f")
    f.step("s", if_={"a": {"b": 1}})(noop)
    f.shape()["steps"][0]["requiredInputPattern"]["value"]["a"]["b"] = 2
    assert f.shape()["steps"][0]["requiredInputPattern"]["value"] == {"a": {"b": 1}}


# -- JSON.stringify ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        ({"a": [1, 2.5, None, False]}, '{"a":[1,2.5,null,false]}'),
        ((1, "x"), '[1,"x"]'),
        (1.0, "1"),
        (-0.0, "0"),
        (100.0, "100"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (123.456, "123.456"),
        (2.0**53, "9007199254740992"),
        (float("nan"), "null"),
        (float("inf"), "null"),
        (10**30, "1000000000000000000000000000000"),
        ("é ü 日本", '"é ü 日本"'),
        ("\u2028/\x7f", '"\u2028/\x7f"'),
        ("q\"\\\b\f\n\r\t\x01\x1f", '"q\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f"'),
        ("\ud800", '"\\ud800"'),
        ({"b": 1, "10": 2, "2": 3, "01": 4, "a": 5}, '{"2":3,"10":2,"b":1,"01":4,"a":5}'),
    ],
)
def test_js_json_matches_json_stringify(value: Any, expected: str) -> None:
    assert js_json(value) == expected


def test_js_json_rejects_non_json_values() -> None:
    with pytest.raises(TypeError, match="object keys must be strings"):
        js_json({1: 2})
    with pytest.raises(TypeError, match="set is not JSON-serialisable"):
        js_json({1})
