"""Durations: the short form ("30s", "1h30m") and ISO 8601 ("PT5M"), and back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from temporal_workflows.durations import format_duration, parse_duration


class TestShortForm:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("500ms", timedelta(milliseconds=500)),
            ("30s", timedelta(seconds=30)),
            ("5m", timedelta(minutes=5)),
            ("2h", timedelta(hours=2)),
            ("1d", timedelta(days=1)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
            ("1.5h", timedelta(minutes=90)),
            ("0.25s", timedelta(milliseconds=250)),
            ("0s", timedelta(0)),
            ("  10s ", timedelta(seconds=10)),
        ],
    )
    def test_parses(self, text: str, expected: timedelta) -> None:
        assert parse_duration(text) == expected

    def test_ms_is_not_minutes_and_seconds(self) -> None:
        assert parse_duration("500ms") == timedelta(milliseconds=500)
        assert parse_duration("5m") == timedelta(minutes=5)


class TestIso8601:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("PT5M", timedelta(minutes=5)),
            ("P1D", timedelta(days=1)),
            ("PT1H30M", timedelta(hours=1, minutes=30)),
            ("P1DT2H", timedelta(days=1, hours=2)),
            ("PT0.5S", timedelta(milliseconds=500)),
            ("PT1,5S", timedelta(milliseconds=1500)),
            ("P2W", timedelta(weeks=2)),
            ("pt10s", timedelta(seconds=10)),
        ],
    )
    def test_parses(self, text: str, expected: timedelta) -> None:
        assert parse_duration(text) == expected

    @pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M", "P3M"])
    def test_refuses_calendar_units(self, text: str) -> None:
        with pytest.raises(ValueError, match="years or months"):
            parse_duration(text)


class TestInvalid:
    @pytest.mark.parametrize(
        "text", ["", "5", "5M", "5 s", "-5s", "abc", "1x", "P", "PT", "P1DT", "s", "1h-30m"]
    )
    def test_refused_with_examples(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"is not a duration; use .*PT5M"):
            parse_duration(text)

    def test_non_string_refused(self) -> None:
        with pytest.raises(ValueError, match="must be a string"):
            parse_duration(30)  # type: ignore[arg-type]

    def test_too_long(self) -> None:
        with pytest.raises(ValueError, match="too long"):
            parse_duration("9" * 400 + "d")

    def test_message_quotes_long_input_shortened(self) -> None:
        with pytest.raises(ValueError) as caught:
            parse_duration("x" * 500)
        assert len(str(caught.value)) < 200


class TestFormat:
    @pytest.mark.parametrize(
        ("duration", "text"),
        [
            (timedelta(0), "0s"),
            (timedelta(milliseconds=500), "500ms"),
            (timedelta(microseconds=1500), "1.5ms"),
            (timedelta(seconds=30), "30s"),
            (timedelta(seconds=1, milliseconds=500), "1.5s"),
            (timedelta(minutes=90), "1h30m"),
            (timedelta(days=1, seconds=5), "1d5s"),
            (timedelta(days=3), "3d"),
        ],
    )
    def test_formats(self, duration: timedelta, text: str) -> None:
        assert format_duration(duration) == text

    @pytest.mark.parametrize(
        "duration",
        [
            timedelta(microseconds=1),
            timedelta(milliseconds=1),
            timedelta(hours=25, minutes=1, seconds=1, microseconds=7),
            timedelta(days=400),
        ],
    )
    def test_round_trips(self, duration: timedelta) -> None:
        assert parse_duration(format_duration(duration)) == duration

    def test_negative_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            format_duration(timedelta(seconds=-1))
