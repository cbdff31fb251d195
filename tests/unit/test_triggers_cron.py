"""Cron slots in time zones (croniter), including both DST transitions, and run-stat percentiles."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agentgraph.errors import UserError
from graph import percentile
from runners import check_schedule, due_slot, next_fire

UTC = timezone.utc


def _u(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_next_fire_in_a_zone() -> None:
    # 09:00 on weekdays in New York (UTC-5 in winter): Friday 2026-01-02 14:00Z, then Monday.
    assert next_fire("0 9 * * 1-5", "America/New_York", _u(2026, 1, 2, 13, 0)) == _u(2026, 1, 2, 14, 0)
    assert next_fire("0 9 * * 1-5", "America/New_York", _u(2026, 1, 2, 14, 0)) == _u(2026, 1, 5, 14, 0)


def test_spring_forward_skipped_time_fires_at_the_jump() -> None:
    # Europe/Berlin 2026-03-29: 02:00 -> 03:00. 02:30 does not exist; it fires at 03:00 CEST = 01:00Z.
    assert next_fire("30 2 * * *", "Europe/Berlin", _u(2026, 3, 28, 12, 0)) == _u(2026, 3, 29, 1, 0)
    assert next_fire("30 2 * * *", "Europe/Berlin", _u(2026, 3, 29, 1, 0)) == _u(2026, 3, 30, 0, 30)


def test_fall_back_repeated_time_fires_once_for_a_fixed_hour() -> None:
    # Europe/Berlin 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens at 00:30Z and again at 01:30Z.
    first = next_fire("30 2 * * *", "Europe/Berlin", _u(2026, 10, 24, 12, 0))
    assert first == _u(2026, 10, 25, 0, 30)
    assert next_fire("30 2 * * *", "Europe/Berlin", first) == _u(2026, 10, 26, 1, 30)  # not 01:30Z the same day
    assert due_slot("30 2 * * *", "Europe/Berlin", _u(2026, 10, 25, 1, 45)) == first


def test_fall_back_hourly_fires_every_real_hour() -> None:
    # "0 * * * *" fires at 02:00 CEST (00:00Z), 02:00 CET (01:00Z), 03:00 CET (02:00Z): every real hour.
    t, slots = _u(2026, 10, 24, 23, 30), []
    for _ in range(4):
        t = next_fire("0 * * * *", "Europe/Berlin", t)
        slots.append(t)
    assert slots == [_u(2026, 10, 25, 0, 0), _u(2026, 10, 25, 1, 0), _u(2026, 10, 25, 2, 0), _u(2026, 10, 25, 3, 0)]


def test_due_slot_includes_now_and_is_the_latest() -> None:
    assert due_slot("*/5 * * * *", "UTC", _u(2026, 1, 1, 10, 5)) == _u(2026, 1, 1, 10, 5)
    assert due_slot("*/5 * * * *", "UTC", _u(2026, 1, 1, 10, 9, 59)) == _u(2026, 1, 1, 10, 5)
    assert due_slot("0 0 1 * *", "Asia/Tokyo", _u(2026, 2, 10)) == _u(2026, 1, 31, 15, 0)  # Feb 1 00:00 JST


@pytest.mark.parametrize("cron, tz", [("61 * * * *", "UTC"), ("* * *", "UTC"), ("0 9 * * *", "Mars/Base"),
                                      ("@reboot", "UTC")])
def test_bad_schedules(cron, tz) -> None:
    with pytest.raises(UserError):
        check_schedule(cron, tz)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
