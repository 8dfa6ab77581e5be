"""The deadline watchdog expires every deadline, sooner or later than the one it sleeps
for (it is woken only when a sooner one arrives)."""

from __future__ import annotations

import time

from invoicing_bridge.backends.http import _Deadline, _Watchdog


def _wait_for(condition: object, limit: float = 10.0) -> None:
    end = time.monotonic() + limit
    while not condition() and time.monotonic() < end:  # type: ignore[operator]
        time.sleep(0.01)


def test_a_sooner_deadline_than_the_one_awaited_expires() -> None:
    dog = _Watchdog()
    later = _Deadline(600)
    dog.watch(later)
    time.sleep(0.05)  # the watchdog now sleeps until `later`
    sooner = _Deadline(0.1)
    dog.watch(sooner)
    _wait_for(lambda: sooner.expired)
    assert sooner.expired and not later.expired


def test_later_deadlines_expire_in_turn() -> None:
    dog = _Watchdog()
    deadlines = [_Deadline(0.05 * (n + 1)) for n in range(4)]
    for deadline in deadlines:
        dog.watch(deadline)
    _wait_for(lambda: all(d.expired for d in deadlines))
    assert all(d.expired for d in deadlines)


def test_a_finished_attempt_is_not_expired() -> None:
    dog = _Watchdog()
    done = _Deadline(0.05)
    done.done = True
    other = _Deadline(0.1)
    dog.watch(done)
    dog.watch(other)
    _wait_for(lambda: other.expired)
    assert other.expired and not done.expired
