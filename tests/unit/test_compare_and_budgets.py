"""Comparison scoring and budget periods (no services)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agentgraph.budgets import Budget, period_window
from agentgraph.errors import UserError
from agentgraph.testing import FunctionLLM
from builder._compare import Comparator, CompareRequest, parse_judge, run_checks


def test_period_windows_are_utc_calendar_periods() -> None:
    at = datetime(2025, 3, 5, 17, 30, tzinfo=timezone.utc)  # a Wednesday
    assert period_window("day", at)[0] == "2025-03-05"
    key, start, end = period_window("week", at)
    assert key == "2025-W10" and start.weekday() == 0 and (end - start).days == 7
    key, start, end = period_window("month", at)
    assert key == "2025-03" and start.day == 1 and end == datetime(2025, 4, 1, tzinfo=timezone.utc)


def test_budget_validation_says_how_to_fix() -> None:
    with pytest.raises(UserError, match="tenant, team, user, agent"):
        Budget(id="b", tenant_id="t", name="n", scope="org", scope_id="x", period="day", limit_usd=1).validate()
    with pytest.raises(UserError, match="positive"):
        Budget(id="b", tenant_id="t", name="n", scope="user", scope_id="x", period="day", limit_usd=0).validate()


def test_judge_parsing_and_checks() -> None:
    assert parse_judge('{"score": 8, "reason": "good"}') == (0.8, "good")
    assert parse_judge('Sure! {"score": "7"...')[0] == pytest.approx(0.7)
    assert parse_judge("no idea")[0] is None
    checks = run_checks('{"city": "Paris"}', ["paris", "France"], {"type": "object", "required": ["city"]})
    assert checks["keywords"] == 0.5 and checks["missing"] == ["France"] and checks["schema"] == 1.0
    assert run_checks("not json", [], {"type": "object"})["schema"] == 0.0


async def test_comparator_scores_and_names_winners() -> None:
    def answer(messages, info):
        if info.get("response_format"):  # the judge
            return {"content": '{"score": 5, "reason": "ok"}'}
        return {"content": "blue" if info["model"] == "a" else "the sky is blue today"}

    req = CompareRequest(models=["a", "b"], input="Colour of the sky?", expected_keywords=["today"], judge_model="j")
    events = []

    async def emit(ev):
        events.append(ev)

    out = await Comparator(FunctionLLM(answer)).run(req, emit)
    a, b = out.columns
    assert a.score == pytest.approx(0.25) and b.score == pytest.approx(0.75)
    assert out.summary["best"] == "b" and "Best: b" in out.summary["line"]
    assert [e["type"] for e in events].count("column") == 2 and events[-1]["type"] == "summary"


def test_compare_request_validation() -> None:
    with pytest.raises(UserError, match="2 to 4"):
        CompareRequest(models=["a"], input="x").validate()
    with pytest.raises(UserError, match="once"):
        CompareRequest(models=["a", "a"], input="x").validate()
