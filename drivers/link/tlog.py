"""Telemetry logs in MAVProxy's .tlog format, readable by pymavlink, MAVProxy and MAVExplorer.

A .tlog is a plain sequence of records: an 8-byte big-endian wall-clock time in microseconds
since the Unix epoch, then the MAVLink frame exactly as it crossed the wire.
"""

import struct
import threading
import time
from pathlib import Path

_STAMP = struct.Struct(">Q")


class TlogWriter:
    """Append frames in both directions; safe to call from the receive and send threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        self._lock = threading.Lock()
        self.frames = 0

    def write(self, frame: bytes, wall: float | None = None) -> None:
        usec = int((time.time() if wall is None else wall) * 1e6)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(_STAMP.pack(usec) + frame)
            self.frames += 1

    def write_many(self, frames: list[bytes], wall: float | None = None) -> None:
        """Frames that arrived together, stamped alike, in one write."""
        stamp = _STAMP.pack(int((time.time() if wall is None else wall) * 1e6))
        with self._lock:
            if self._file.closed:
                return
            self._file.write(b"".join(stamp + f for f in frames))
            self.frames += len(frames)

    def close(self) -> None:
        with self._lock:
            self._file.close()
