"""Allowed-hours windows: 'Mon-Fri 07:00-19:00' in a named time zone."""

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WINDOW = re.compile(r"^\s*(?P<days>[A-Za-z,\- ]+?|\*)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        t = local.time()
        if self.start <= self.end:
            return local.weekday() in self.days and self.start <= t < self.end
        # Overnight window (22:00-06:00): the early part belongs to the previous day.
        if t >= self.start:
            return local.weekday() in self.days
        return t < self.end and (local.weekday() - 1) % 7 in self.days


def _parse_days(text: str) -> frozenset[int]:
    text = text.strip().lower()
    if text in ("*", "daily", "every day"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            if first[:3] not in DAYS or last[:3] not in DAYS:
                raise ValueError(f"unknown day in {part!r}")
            i, j = DAYS.index(first[:3]), DAYS.index(last[:3])
            days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        else:
            if part[:3] not in DAYS:
                raise ValueError(f"unknown day {part!r}")
            days.add(DAYS.index(part[:3]))
    return frozenset(days)


def _parse_time(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return time(23, 59, 59, 999999)
    return time(hours, minutes)


def parse_window(text: str) -> Window:
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"not an hours window: {text!r} (use e.g. 'Mon-Fri 07:00-19:00')")
    try:
        return Window(_parse_days(match["days"]), _parse_time(match["start"]), _parse_time(match["end"]))
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None


@dataclass(frozen=True)
class Hours:
    windows: tuple[Window, ...]
    tz: ZoneInfo
    outside: str

    def allows(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return any(w.contains(local) for w in self.windows)


def parse_hours(spec: dict) -> Hours:
    allow = spec.get("allow")
    texts = [allow] if isinstance(allow, str) else list(allow or [])
    if not texts:
        raise ValueError("hours.allow is required")
    try:
        tz = ZoneInfo(spec.get("tz", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {spec.get('tz')!r}") from None
    return Hours(tuple(parse_window(t) for t in texts), tz, spec.get("outside", "escalate"))
