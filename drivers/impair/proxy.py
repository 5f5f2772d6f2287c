"""The impairment proxy: a MAVLink-aware relay the harness places between itself and a vehicle,
to degrade the link on purpose while a check runs.

    Link (harness) --tcp--> ImpairmentProxy (tcp:127.0.0.1:<port>) --tcp|udp--> vehicle URL

    with ImpairmentProxy("tcp:127.0.0.1:5760", seed=1) as proxy:
        link = Link(proxy.url)
        proxy.set("down", Impairment(loss=0.1, latency_s=0.5))
        proxy.outage(10.0)            # 10 vehicle seconds of silence both ways

Durations are vehicle seconds (drivers/impair/proxy_relay.py says how the relay keeps vehicle time).
The relay runs in a process of its own, forked from a forkserver that has it imported already:
the relay and the harness each parse every frame, and in one interpreter they would share one
core. This class is the harness's handle: each call is answered by the relay process, so
`counters` is a snapshot taken when asked. The process ignores Ctrl-C (the harness decides),
dies with the harness (its pipe closes; on Linux also PR_SET_PDEATHSIG) and is killed by close().
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from drivers.errors import DriverError
from drivers.impair.impairment import Counters, Impairment
from drivers.impair.proxy_sockets import parse_vehicle_url

CALL_TIMEOUT_S = 10.0  # wall seconds: the relay answers in microseconds unless it is wedged
START_TIMEOUT_S = 30.0  # wall seconds: a first forkserver start imports pymavlink's dialect
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["drivers.impair.proxy_relay"])


class ImpairmentProxy:
    """A relay process between the harness and `vehicle_url`; see the module docstring."""

    def __init__(
        self,
        vehicle_url: str,
        *,
        seed: int = 0,
        vehicle_sysid: int | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        parse_vehicle_url(vehicle_url)  # ValueError before any process starts
        self.vehicle_url = vehicle_url
        self._conn, child = _CONTEXT.Pipe()
        self._proc = _CONTEXT.Process(
            target=_serve,
            args=(child, vehicle_url, seed, vehicle_sysid, connect_timeout_s),
            name=f"impairment proxy to {vehicle_url}",
            daemon=True,
        )
        self._closed = False
        self._proc.start()
        child.close()
        try:
            self.url: str = self._answer("start", START_TIMEOUT_S + connect_timeout_s)
        except BaseException:
            self._kill()
            raise

    # -- control: each is one call to the relay process ----------------------------------------
    def set(self, direction: str, impairment: Impairment) -> None:
        """Impair "up" (harness -> vehicle), "down" or "both" from the next frame on."""
        if not isinstance(impairment, Impairment):
            raise TypeError(f"expected an Impairment, got {type(impairment).__name__}")
        self._call("set", direction, impairment)

    def clear(self) -> None:
        """Back to a transparent relay: no impairment, no outage, no frame held back. Frames
        already delayed still leave in order."""
        self._call("clear")

    def outage(self, duration_s: float, direction: str = "both") -> None:
        """Drop every frame arriving in the next `duration_s` vehicle seconds."""
        self._call("outage", duration_s, direction)

    def in_outage(self, direction: str = "both") -> bool:
        return bool(self._call("in_outage", direction))

    @property
    def counters(self) -> dict[str, Counters]:
        """What each direction ("up", "down") did so far: a snapshot."""
        return self._call("counters")

    @property
    def pace(self) -> float:
        """Observed speedup of the vehicle (vehicle seconds per wall second)."""
        return self._call("pace")

    @property
    def vehicle_side_port(self) -> int:
        """The proxy's own port toward the vehicle (the udpin port it listens on, say)."""
        return self._call("vehicle_side_port")

    @property
    def harness_connected(self) -> bool:
        return self._call("harness_connected")

    @property
    def error(self) -> str | None:
        """The relay loop's traceback if it died of a bug, else None."""
        return self._call("error")

    # -- the pipe ------------------------------------------------------------------------------
    def _call(self, name: str, *args: Any) -> Any:
        if self._closed:
            raise DriverError(f"the impairment proxy to {self.vehicle_url} is closed ({name})")
        try:
            self._conn.send((name, args))
        except OSError as exc:
            raise self._gone(name, exc) from None
        return self._answer(name, CALL_TIMEOUT_S)

    def _answer(self, name: str, timeout_s: float) -> Any:
        try:
            if not self._conn.poll(timeout_s):
                raise DriverError(
                    f"the impairment proxy to {self.vehicle_url} did not answer {name} "
                    f"within {timeout_s:g} s (wall)"
                )
            ok, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._gone(name, exc) from None
        if not ok:
            raise value
        return value

    def _gone(self, name: str, exc: BaseException) -> DriverError:
        self._proc.join(timeout=1.0)
        return DriverError(
            f"the impairment proxy to {self.vehicle_url} is gone (exit code "
            f"{self._proc.exitcode}) while asked {name}: {exc or type(exc).__name__}"
        )

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the relay (its sockets close with it) and reap its process; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.send(("close", ()))
            self._conn.poll(5.0)
        except OSError:
            pass
        self._kill()

    def _kill(self) -> None:
        self._closed = True
        self._proc.join(timeout=2.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5.0)
        self._conn.close()

    def __enter__(self) -> ImpairmentProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ImpairmentProxy({self.vehicle_url!r} via {getattr(self, 'url', '?')})"


_CALLS = {
    "set": lambda r, direction, impairment: r.set(direction, impairment),
    "clear": lambda r: r.clear(),
    "outage": lambda r, duration_s, direction: r.outage(duration_s, direction),
    "in_outage": lambda r, direction: r.in_outage(direction),
    "counters": lambda r: dict(r.counters_snapshot()),
    "pace": lambda r: r.pace,
    "vehicle_side_port": lambda r: r.vehicle_side_port,
    "harness_connected": lambda r: r.harness_connected,
    "error": lambda r: r.error,
}


def _serve(
    conn: Connection, vehicle_url: str, seed: int, sysid: int | None, connect_timeout_s: float
) -> None:
    """The relay process: start the relay, then answer calls until "close" or the pipe ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    if sys.platform.startswith("linux"):  # die with the harness, however it ends
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    from drivers.impair.proxy_relay import Relay  # preloaded by the forkserver

    try:
        relay = Relay(vehicle_url, seed=seed, vehicle_sysid=sysid,
                      connect_timeout_s=connect_timeout_s)  # fmt: skip
    except Exception as exc:
        conn.send((False, exc))
        return
    try:
        conn.send((True, relay.url))
        while True:
            try:
                name, args = conn.recv()
            except (EOFError, OSError):
                return
            if name == "close":
                return
            try:
                conn.send((True, _CALLS[name](relay, *args)))
            except Exception as exc:
                conn.send((False, exc))
    finally:
        relay.close()
        conn.close()
