"""Durations as users write them: ``"500ms"``, ``"30s"``, ``"1h30m"`` or ISO 8601 ``"PT5M"``.

Pure functions, no I/O: used by validation at the API edge and inside the workflow sandbox.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS: dict[str, float] = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_NUMBER = r"\d+(?:\.\d+)?"
# "ms" must be tried before "m", or "500ms" would read as 500 minutes and a stray "s".
_SHORT_PART = re.compile(rf"({_NUMBER})(ms|d|h|m|s)")
_SHORT_FORM = re.compile(rf"(?:{_NUMBER}(?:ms|d|h|m|s))+")
_ISO_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO_FORM = re.compile(
    rf"P(?:(?P<weeks>{_ISO_NUMBER})W)?(?:(?P<days>{_ISO_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_ISO_NUMBER})H)?(?:(?P<minutes>{_ISO_NUMBER})M)?"
    rf"(?:(?P<seconds>{_ISO_NUMBER})S)?)?",
    re.IGNORECASE,
)
_ISO_CALENDAR = re.compile(r"P(?:[\d.,]+Y)?[\d.,]+[YM]", re.IGNORECASE)
_EXAMPLES = '"500ms", "30s", "5m", "2h", "1d", "1h30m" or ISO 8601 such as "PT5M"'


def parse_duration(text: str) -> timedelta:
    """Parse a duration written as ``"30s"``, ``"1h30m"``, ``"500ms"`` or ISO 8601 ``"PT5M"``.

    Units of the short form are ``ms``, ``s``, ``m``, ``h`` and ``d`` (lower case), with
    optional decimals (``"1.5h"``). ISO 8601 accepts weeks, days, hours, minutes and seconds;
    years and months are refused because their length depends on the calendar.

    Args:
        text: The duration as written in a definition.

    Returns:
        The duration, never negative.

    Raises:
        ValueError: If ``text`` is not a duration; the message quotes it and shows examples.
    """
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string such as {_EXAMPLES}")
    source = text.strip()
    try:
        if source[:1] in ("P", "p"):
            return _parse_iso(source, text)
        return _parse_short(source, text)
    except OverflowError:
        raise ValueError(f"duration {_shorten(text)!r} is too long") from None


def _parse_short(source: str, original: str) -> timedelta:
    if not _SHORT_FORM.fullmatch(source):
        raise ValueError(_invalid(original))
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _SHORT_PART.findall(source)
    )
    return _from_seconds(seconds)


def _parse_iso(source: str, original: str) -> timedelta:
    if _ISO_CALENDAR.match(source):
        raise ValueError(
            f"duration {_shorten(original)!r} uses years or months, whose length varies; "
            "use weeks, days, hours, minutes or seconds"
        )
    match = _ISO_FORM.fullmatch(source)
    if match is None or not any(match.groupdict().values()) or source.upper().endswith("T"):
        raise ValueError(_invalid(original))
    parts = {
        name: float(value.replace(",", ".")) for name, value in match.groupdict().items() if value
    }
    return timedelta(**parts)


def _from_seconds(seconds: float) -> timedelta:
    # Round to whole microseconds so "0.1s" + "0.2s" style sums do not drift.
    return timedelta(microseconds=round(seconds * 1_000_000))


def _invalid(text: str) -> str:
    return f"{_shorten(text)!r} is not a duration; use {_EXAMPLES}"


def _shorten(text: str) -> str:
    # Messages quote the input; a pasted paragraph should not flood an API error.
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(duration: timedelta) -> str:
    """Write a duration in the short form, largest unit first (``"1h30m"``, ``"500ms"``).

    The result parses back to the same value with :func:`parse_duration`.

    Args:
        duration: A non-negative duration.

    Returns:
        The short form, ``"0s"`` for zero.

    Raises:
        ValueError: If the duration is negative.
    """
    if duration < timedelta(0):
        raise ValueError(f"cannot format a negative duration ({duration})")
    micros = duration // timedelta(microseconds=1)
    parts: list[str] = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        count, micros = divmod(micros, size)
        if count:
            parts.append(f"{count}{unit}")
    seconds, micros = divmod(micros, 1_000_000)
    if micros:
        parts.append(_format_sub_second(seconds, micros))
    elif seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)


def _format_sub_second(seconds: int, micros: int) -> str:
    if seconds:
        return f"{seconds}.{micros:06d}".rstrip("0") + "s"
    millis, rest = divmod(micros, 1000)
    if rest:
        return f"{millis}.{rest:03d}".rstrip("0") + "ms"
    return f"{millis}ms"
