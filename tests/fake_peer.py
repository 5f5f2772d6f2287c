"""A scripted MAVLink peer for unit tests of the link: it listens on a free loopback TCP port and
sends exactly the frames a test asks for (pymavlink encodes them), so sequence numbers, clock
samples and garbage can be controlled byte for byte."""

import contextlib
import socket
import threading

from drivers.mavlink import mavlink


class _Sink:
    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        self.buf += data


class FakePeer:
    def __init__(self, sysid: int = 1, compid: int = 1) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp:127.0.0.1:{self._server.getsockname()[1]}"
        self._sink = _Sink()
        self.mav = mavlink.MAVLink(self._sink, srcSystem=sysid, srcComponent=compid)
        self.conn: socket.socket | None = None
        self.received = bytearray()
        self._accepted = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.conn, _ = self._server.accept()
        self._accepted.set()
        while True:
            try:
                data = self.conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def frame(self, msg: object, seq: int | None = None) -> bytes:
        if seq is not None:
            self.mav.seq = seq
        self._sink.buf.clear()
        self.mav.send(msg)
        return bytes(self._sink.buf)

    def send(self, msg: object, seq: int | None = None) -> bytes:
        return self.send_raw(self.frame(msg, seq))

    def send_raw(self, data: bytes) -> bytes:
        assert self._accepted.wait(5.0), "the link never connected"
        assert self.conn is not None
        self.conn.sendall(data)
        return data

    def heartbeat(self, seq: int | None = None) -> bytes:
        return self.send(
            self.mav.heartbeat_encode(
                mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 0
            ),
            seq,
        )

    def system_time(self, time_boot_ms: int, seq: int | None = None) -> bytes:
        return self.send(self.mav.system_time_encode(0, time_boot_ms), seq)

    def close(self) -> None:
        if self.conn is not None:
            # shutdown first: close() alone does not send FIN while our reader thread is in recv()
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            self.conn.close()
        self._server.close()
