"""Bounded waits for tests that watch other processes (workers, servers, relays)."""

import time


def wait_until(predicate, timeout: float, step: float = 0.1):
    """Poll `predicate` every `step` seconds until it returns something truthy or `timeout`
    seconds have passed; returns its last value (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
