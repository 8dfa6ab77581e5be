"""Emulation: local stand-ins of the backends' APIs, for ``emulate``, ``demo``, tests and
benchmarks.

- :mod:`.server`: :class:`EmulatorServer` serves any WSGI app on a loopback port, with
  latency and fault injection (:class:`FaultInjector`) and counters (:class:`EmulatorStats`);
- :mod:`.router`: :class:`Router`, routes by method and path pattern with the vendor's own
  404 and 405 answers;
- :mod:`.base`: :class:`Emulator`, the base of every plugin's emulator (one constructor
  contract, its ``emulate NAME`` command built from its declared :class:`Knob` s).
"""

from __future__ import annotations

from .base import Emulator, Knob, print_profile_and_serve
from .router import Answer, Route, RouteMatch, Router
from .server import FAULT_KINDS, EmulatorServer, EmulatorStats, FaultInjector, WSGIApp

__all__ = [
    "FAULT_KINDS",
    "Answer",
    "Emulator",
    "EmulatorServer",
    "EmulatorStats",
    "FaultInjector",
    "Knob",
    "Route",
    "RouteMatch",
    "Router",
    "WSGIApp",
    "print_profile_and_serve",
]
