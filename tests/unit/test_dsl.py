"""The flow DSL: validation while building, StepDef's worker-facing interface, handler calling."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import typing
import uuid
from decimal import Decimal
from typing import Any

import pydantic
import pytest
import typing_extensions

from pgflow.dsl import Flow, FlowDefinitionError, StepDef, validate_slug
from pgflow.errors import PgflowError


def noop(x: Any) -> Any:
    return x


# -- slugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["a", "A", "_x", "fetch_articles", "s1", "x" * 128, "Run", "runs"])
def test_valid_slugs_are_accepted(slug: str) -> None:
    assert validate_slug(slug) == slug
    Flow(slug).step(slug)(noop)


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("", "cannot be empty"),
        ("x" * 129, "cannot be longer than 128 characters"),
        ("1abc", "cannot start with a number"),
        ("has space", "can only contain letters, digits and underscores"),
        ("has-dash", "can only contain letters, digits and underscores"),
        ("a/b", "can only contain letters, digits and underscores"),
        ("a:b", "can only contain letters, digits and underscores"),
        ("é", "can only contain letters, digits and underscores"),
        ("run", "cannot be a reserved word (run)"),
    ],
)
def test_invalid_slugs_are_rejected_for_flows_and_steps(slug: str, message: str) -> None:
    with pytest.raises(FlowDefinitionError, match="Flow slug " + message.replace("(", r"\(").replace(")", r"\)")):
        Flow(slug)
    with pytest.raises(FlowDefinitionError, match="Step slug " + message.replace("(", r"\(").replace(")", r"\)")):
        Flow("ok").step(slug)


def test_non_string_slug_is_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match="Flow slug must be a string, got int"):
        Flow(3)  # type: ignore[arg-type]


def test_definition_errors_are_pgflow_errors_and_value_errors() -> None:
    with pytest.raises(PgflowError):
        Flow("")
    with pytest.raises(ValueError):
        Flow("")


# -- structure -----------------------------------------------------------------------------


def test_duplicate_step_is_rejected_with_pgflows_message() -> None:
    f = Flow("f")
    f.step("a")(noop)
    with pytest.raises(FlowDefinitionError, match=r'^Step "a" already exists in flow "f"$'):
        f.step("a")
    with pytest.raises(FlowDefinitionError, match=r'^Step "a" already exists in flow "f"$'):
        f.map("a")


def test_unknown_dependency_is_rejected_with_pgflows_message() -> None:
    f = Flow("f")
    f.step("a")(noop)
    with pytest.raises(FlowDefinitionError, match=r'^Step "b" depends on undefined step "c"$'):
        f.step("b", depends_on=["a", "c"])
    with pytest.raises(FlowDefinitionError, match=r'^Step "m" depends on undefined step "nope"$'):
        f.map("m", array="nope")


def test_self_dependency_is_an_unknown_dependency() -> None:
    with pytest.raises(FlowDefinitionError, match='Step "a" depends on undefined step "a"'):
        Flow("f").step("a", depends_on=["a"])


def test_depends_on_given_as_a_string_is_rejected_with_a_hint() -> None:
    f = Flow("f")
    f.step("a")(noop)
    with pytest.raises(FlowDefinitionError, match=r"not a string \(write \['a'\]\)"):
        f.step("b", depends_on="a")


def test_duplicate_dependency_is_rejected() -> None:
    f = Flow("f")
    f.step("a")(noop)
    with pytest.raises(FlowDefinitionError, match="lists a dependency twice"):
        f.step("b", depends_on=["a", "a"])


def test_handler_must_be_callable() -> None:
    with pytest.raises(FlowDefinitionError, match="must be callable"):
        Flow("f").step("a")(42)  # type: ignore[type-var]


def test_a_failed_definition_leaves_the_flow_unchanged() -> None:
    f = Flow("f")
    with pytest.raises(FlowDefinitionError):
        f.step("b", depends_on=["missing"])
    assert list(f.steps) == []


def test_decorator_returns_the_handler_unchanged() -> None:
    f = Flow("f")

    @f.step("a")
    def a(x: int) -> int:
        return x + 1

    assert a(1) == 2
    assert f.steps["a"].handler is a


def test_steps_keep_definition_order_and_expose_their_definition() -> None:
    f = Flow("f")
    f.step("z")(noop)
    f.step("a", depends_on=["z"])(noop)
    f.map("m", array="a", max_attempts=2)(noop)
    f.map("root_map")(noop)
    f.array("arr", depends_on=["z", "a"])(noop)
    assert list(f.steps) == ["z", "a", "m", "root_map", "arr"]
    m = f.steps["m"]
    assert isinstance(m, StepDef)
    assert (m.slug, m.step_type, m.depends_on, m.index, m.flow_slug) == ("m", "map", ("a",), 2, "f")
    assert m.options.max_attempts == 2 and m.options.timeout is None
    assert f.steps["root_map"].depends_on == () and f.steps["root_map"].is_root
    assert f.steps["arr"].step_type == "single" and f.steps["arr"].depends_on == ("z", "a")
    with pytest.raises(TypeError):
        f.steps["x"] = m  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.slug = "other"  # type: ignore[misc]


# -- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be greater than or equal to 1, got 0"),
        ({"base_delay": 0}, "base_delay must be greater than or equal to 1, got 0"),
        ({"timeout": 2}, "timeout must be greater than or equal to 3, got 2"),
        ({"max_attempts": 1.5}, "max_attempts must be an integer, got 1.5"),
        ({"timeout": True}, "timeout must be an integer, got True"),
    ],
)
def test_flow_option_ranges(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FlowDefinitionError, match=message):
        Flow("f", **kwargs)


def test_flow_option_minimums_are_accepted() -> None:
    f = Flow("f", max_attempts=1, base_delay=1, timeout=3)
    assert (f.options.max_attempts, f.options.base_delay, f.options.timeout) == (1, 1, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be greater than or equal to 1, got 0"),
        ({"base_delay": -1}, "base_delay must be greater than or equal to 1, got -1"),
        ({"timeout": 0}, "timeout must be greater than or equal to 3, got 0"),
        ({"start_delay": -1}, "start_delay must be greater than or equal to 0, got -1"),
        ({"start_delay": "5"}, "start_delay must be an integer, got '5'"),
        ({"when_unmet": "skip"}, "when_unmet can only be set together with if_ or if_not"),
        ({"if_": {"a": 1}, "when_unmet": "ignore"}, "when_unmet must be one of 'fail', 'skip', 'skip-cascade'"),
        ({"when_exhausted": "retry"}, "when_exhausted must be one of 'fail', 'skip', 'skip-cascade', got 'retry'"),
        ({"if_": [1]}, r"if_ must be a dict \(a JSON containment pattern\), got list"),
        ({"if_not": "x"}, "if_not must be a dict"),
        ({"if_": {"when": dt.date(2020, 1, 1)}}, "if_ must be JSON-serialisable"),
        ({"if_not": {"x": float("nan")}}, "if_not must be JSON-serialisable"),
    ],
)
def test_step_option_validation(kwargs: dict[str, Any], message: str) -> None:
    f = Flow("f")
    with pytest.raises(FlowDefinitionError, match=f'^Step "s" in flow "f": {message}'):
        f.step("s", **kwargs)
    with pytest.raises(FlowDefinitionError, match=f'^Step "m" in flow "f": {message}'):
        f.map("m", **kwargs)


def test_step_option_minimums_and_modes_are_accepted() -> None:
    f = Flow("f")
    f.step("s", max_attempts=1, base_delay=1, timeout=3, start_delay=0, when_exhausted="skip-cascade")(noop)
    f.step("t", if_not={"s": {}}, when_unmet="fail")(noop)
    o = f.steps["s"].options
    assert (o.max_attempts, o.base_delay, o.timeout, o.start_delay, o.when_exhausted) == (1, 1, 3, 0, "skip-cascade")
    assert f.steps["t"].options.when_unmet == "fail"


def test_patterns_are_copied_at_definition() -> None:
    pattern: dict[str, Any] = {"user": {"plan": "pro"}}
    f = Flow("f")
    f.step("s", if_=pattern)(noop)
    pattern["user"]["plan"] = "free"
    assert f.steps["s"].options.if_ == {"user": {"plan": "pro"}}


# -- invoking handlers -----------------------------------------------------------------------


def test_invoke_passes_ctx_only_to_handlers_that_take_it() -> None:
    f = Flow("f")
    f.step("one")(lambda x: ("one", x))
    f.step("two")(lambda x, ctx: ("two", x, ctx))
    f.step("none")(lambda: "none")
    f.step("var")(lambda *args: args)
    f.step("kw")(lambda x, *, extra=1: (x, extra))
    assert f.steps["one"].invoke({"a": 1}, "CTX") == ("one", {"a": 1})
    assert f.steps["two"].invoke({"a": 1}, "CTX") == ("two", {"a": 1}, "CTX")
    assert f.steps["none"].invoke({"a": 1}, "CTX") == "none"
    assert f.steps["var"].invoke(1, "CTX") == (1, "CTX")
    assert f.steps["kw"].invoke(1, "CTX") == (1, 1)
    assert not any(s.is_async for s in f.steps.values())


def test_invoke_works_with_bound_methods_and_callable_objects() -> None:
    class Handlers:
        def method(self, x: int, ctx: object) -> tuple[int, object]:
            return x, ctx

    class Callable_:
        def __call__(self, x: int) -> int:
            return x * 2

    f = Flow("f")
    f.step("m")(Handlers().method)
    f.step("c")(Callable_())
    assert f.steps["m"].invoke(1, "C") == (1, "C")
    assert f.steps["c"].invoke(4, "C") == 8


def test_async_handlers_return_a_coroutine() -> None:
    f = Flow("f")

    @f.step("a")
    async def a(x: int, ctx: str) -> str:
        await asyncio.sleep(0)
        return f"{x}-{ctx}"

    class AsyncCallable:
        async def __call__(self, x: int) -> int:
            return x

    f.step("b")(AsyncCallable())
    assert f.steps["a"].is_async and f.steps["b"].is_async
    coro = f.steps["a"].invoke(1, "c")
    assert asyncio.iscoroutine(coro)
    assert asyncio.run(coro) == "1-c"
    assert asyncio.run(f.steps["b"].invoke(7)) == 7


class Article(pydantic.BaseModel):
    title: str
    words: int


class Summary(pydantic.BaseModel):
    title: str
    at: dt.datetime


def test_pydantic_input_is_validated_and_output_dumped_in_json_mode() -> None:
    f = Flow("f")

    @f.map("summarise")
    def summarise(article: Article) -> Summary:
        assert isinstance(article, Article)
        return Summary(title=article.title.upper(), at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))

    step = f.steps["summarise"]
    out = step.invoke({"title": "hi", "words": "3"})
    assert step.to_output(out) == {"title": "HI", "at": "2026-01-02T03:04:05Z"}
    with pytest.raises(pydantic.ValidationError):
        step.invoke({"title": "hi"})


def test_pydantic_validation_of_async_handlers_happens_when_awaited() -> None:
    f = Flow("f")

    @f.step("s")
    async def s(article: Article, ctx: object) -> int:
        return article.words

    coro = f.steps["s"].invoke({"title": "t"}, None)  # invalid, but no exception yet
    with pytest.raises(pydantic.ValidationError):
        asyncio.run(coro)
    assert asyncio.run(f.steps["s"].invoke({"title": "t", "words": 2})) == 2


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Deps(typing_extensions.TypedDict):
    a: int


class PlainDeps(typing.TypedDict):  # pydantic cannot parse these before Python 3.12
    a: int


def test_dataclass_and_typeddict_inputs_are_parsed() -> None:
    f = Flow("f")
    f.step("p")(lambda p: p)

    @f.step("q")
    def q(p: Point) -> Point:
        return Point(p.y, p.x)

    @f.step("t", depends_on=["q"])
    def t(deps: Deps) -> int:
        return deps["a"]

    assert f.steps["q"].invoke({"x": "1", "y": 2}) == Point(2, 1)
    assert f.steps["q"].to_output(Point(2, 1)) == {"x": 2, "y": 1}
    assert f.steps["t"].invoke({"a": "5"}) == 5

    @f.step("u", depends_on=["q"])
    def u(deps: PlainDeps) -> int:
        return deps["a"]

    assert f.steps["u"].invoke({"a": "5"}) in ("5", 5)  # parsed where pydantic can, else as is


def test_plain_annotations_do_not_parse_or_coerce() -> None:
    f = Flow("f")

    @f.step("s")
    def s(x: int) -> Any:
        return x

    assert f.steps["s"].invoke("not an int") == "not an int"


class Color(enum.Enum):
    RED = "red"


def test_to_output_converts_common_python_values() -> None:
    f = Flow("f")
    f.step("s")(noop)
    s = f.steps["s"]
    u = uuid.UUID(int=1)
    value = {"t": (1, 2), "d": dt.date(2026, 1, 1), "u": u, "n": Decimal("1.5"), "c": Color.RED}
    assert s.to_output(value | {"m": [Article(title="a", words=1)]}) == {
        "t": [1, 2], "d": "2026-01-01", "u": str(u), "n": "1.5", "c": "red", "m": [{"title": "a", "words": 1}]
    }
    assert s.to_output(None) is None and s.to_output(0) == 0 and s.to_output("") == ""
    with pytest.raises(TypeError, match="step 's' of flow 'f' returned a non-JSON value: a object is not"):
        s.to_output(object())


def test_decorator_without_a_slug_explains_the_fix() -> None:
    f = Flow("f")
    with pytest.raises(FlowDefinitionError, match=r'write @flow.step\("<slug>"\), not @flow.step'):
        f.step(noop)  # type: ignore[arg-type]
    with pytest.raises(FlowDefinitionError, match=r'write @flow.map\("<slug>"\), not @flow.map'):
        f.map(noop)  # type: ignore[arg-type]


def test_handlers_that_cannot_be_called_with_input_and_ctx_are_rejected() -> None:
    f = Flow("f")
    with pytest.raises(FlowDefinitionError, match=r'Step "a": the handler must take \(input\) or \(input, ctx\)'):
        f.step("a")(lambda x, ctx, extra: None)
    with pytest.raises(FlowDefinitionError, match="the handler must take"):
        f.step("b")(lambda x, *, required: None)
    f.step("c")(lambda x, ctx=None, extra=1, *, opt=2: None)  # defaults are fine
    assert list(f.steps) == ["c"]
