"""The DSL's schedules: Flow(..., schedule=...) and flow.schedule(...), their checks when defined,
and what compile() emits for them (the database side is in
tests/integration/client/test_schedules_client.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pgflow.dsl import Flow, FlowDefinitionError
from pgflow.schedules import ScheduleDef


def _flow(**kw: Any) -> Flow:
    flow = Flow("digest", **kw)

    @flow.step("fetch")
    def fetch(inp: Any) -> Any:
        return inp

    return flow


def test_schedule_keyword_adds_a_schedule_named_after_the_flow() -> None:
    flow = _flow(schedule="*/5 * * * *")
    assert flow.schedules == (ScheduleDef("digest", "digest", "*/5 * * * *"),)
    assert flow.compile()[-1] == (
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pgflow.schedules WHERE schedule_slug = 'digest')"
        " THEN pgflow.update_schedule('digest', flow_slug => 'digest', cron => '*/5 * * * *', input => '{}'::jsonb,"
        " timezone => 'UTC', overlap_policy => 'allow', catchup_policy => 'latest',"
        " catchup_window => interval '86400 seconds')"
        " ELSE pgflow.create_schedule('digest', flow_slug => 'digest', cron => '*/5 * * * *', input => '{}'::jsonb,"
        " timezone => 'UTC', overlap_policy => 'allow', catchup_policy => 'latest',"
        " catchup_window => interval '86400 seconds') END;"
    )


def test_schedule_method_takes_every_setting_and_quotes_values() -> None:
    flow = _flow()
    sched = flow.schedule("30 2 * * *", slug="digest_nightly", input={"topic": "o'reilly", "n": [1, 2]},
                          timezone="Europe/Paris", overlap_policy="skip", catchup_policy="all",
                          catchup_window=timedelta(hours=6, milliseconds=500))
    assert flow.schedules == (sched,)
    sql = flow.compile()[-1]
    assert "schedule_slug = 'digest_nightly'" in sql
    assert "input => '{\"topic\":\"o''reilly\",\"n\":[1,2]}'::jsonb" in sql
    assert "timezone => 'Europe/Paris', overlap_policy => 'skip', catchup_policy => 'all'" in sql
    assert "catchup_window => interval '21600.5 seconds'" in sql
    assert "enabled" not in sql, "recompiling never resumes a schedule an operator paused"
    assert sched.settings()["input"] == {"topic": "o'reilly", "n": [1, 2]}


def test_a_flow_without_schedules_compiles_as_before_and_schedules_leave_the_shape_alone() -> None:
    plain, scheduled = _flow(), _flow(schedule="@daily")
    assert scheduled.compile()[:-1] == plain.compile() == [
        "SELECT pgflow.create_flow('digest');", "SELECT pgflow.add_step('digest', 'fetch');"]
    assert scheduled.shape() == plain.shape()


def test_the_input_is_copied_when_defined() -> None:
    data: dict[str, Any] = {"k": [1]}
    flow = _flow()
    flow.schedule("@hourly", input=data)
    data["k"].append(2)
    assert flow.schedules[0].input == {"k": [1]}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cron": "0 24 * * *"}, 'hour field "24": 24 is out of range 0-23'),
    ({"cron": "* * * * * *"}, "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
    ({"cron": "0 0 30 2 *"}, "never fires"),
    ({"cron": "@sometimes"}, "unknown macro"),
    ({"cron": 5}, "it must be a string"),
    ({"timezone": "Mars/Olympus"}, 'unknown time zone "Mars/Olympus"'),
    ({"input": [1, 2]}, "input must be a dict"),
    ({"input": {"x": {1, 2}}}, "input must be JSON-serialisable"),
    ({"overlap_policy": "queue"}, "overlap_policy must be 'allow' or 'skip', got 'queue'"),
    ({"catchup_policy": "none"}, "catchup_policy must be 'latest' or 'all', got 'none'"),
    ({"catchup_window": timedelta(0)}, "catchup_window must be a positive timedelta"),
    ({"slug": "9lives"}, "Schedule slug cannot start with a number"),
])
def test_bad_settings_are_refused_when_defined_naming_what(kwargs: dict[str, Any], message: str) -> None:
    flow = _flow()
    args = {"cron": "@hourly", **kwargs}
    with pytest.raises(FlowDefinitionError) as err:
        flow.schedule(**args)
    assert message in str(err.value)
    assert str(err.value).startswith('Schedule "')
    assert flow.schedules == ()


def test_bad_cron_in_the_flow_keyword_names_the_field() -> None:
    with pytest.raises(FlowDefinitionError, match=r'Schedule "digest" of flow "digest": invalid cron expression '
                                                  r'"0 0 \* \* funday": day-of-week field "funday"'):
        Flow("digest", schedule="0 0 * * funday")


def test_a_second_schedule_needs_its_own_slug() -> None:
    flow = _flow(schedule="@hourly")
    with pytest.raises(FlowDefinitionError, match="already has a schedule named 'digest': pass slug="):
        flow.schedule("@daily")
    flow.schedule("@daily", slug="digest_daily")
    assert [s.slug for s in flow.schedules] == ["digest", "digest_daily"]


def test_a_scheduled_flow_with_a_root_map_step_does_not_compile() -> None:
    flow = Flow("mapped", schedule="@hourly")

    @flow.map("each")
    def each(item: Any) -> Any:
        return item

    with pytest.raises(FlowDefinitionError, match="root map step"):
        flow.compile()
