"""The impairment proxy's sockets: the vehicle URL it accepts, and non-blocking ends it writes
to without ever blocking its one loop thread.

Vehicle URLs read as pymavlink reads them: tcp:HOST:PORT (connect), udpout:HOST:PORT (send to
the vehicle), udpin:HOST:PORT or udp:HOST:PORT (listen; the vehicle's address is learned from
its first datagram). HOST must be 127.0.0.1: the proxy never reaches beyond this machine.
"""

import contextlib
import socket
from dataclasses import dataclass

from drivers.errors import DriverError

LOOPBACK = "127.0.0.1"
_KINDS = {"tcp": "tcp", "udpout": "udpout", "udpin": "udpin", "udp": "udpin"}


@dataclass(frozen=True)
class VehicleAddress:
    kind: str  # tcp | udpout | udpin
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.kind}:{self.host}:{self.port}"


def parse_vehicle_url(url: str) -> VehicleAddress:
    """tcp:/udpout:/udpin:/udp:127.0.0.1:PORT, or a ValueError that says what is accepted."""
    kind, _, rest = url.partition(":")
    host, _, port = rest.rpartition(":")
    if kind not in _KINDS or not host or not port.isdigit():
        raise ValueError(
            f"vehicle URL {url!r}: expected tcp:, udpout:, udpin: or udp: followed by "
            f"{LOOPBACK}:PORT (as pymavlink reads them)"
        )
    if host != LOOPBACK:
        raise ValueError(
            f"vehicle URL {url!r}: the impairment proxy only reaches {LOOPBACK}, not {host!r}"
        )
    if not 0 < int(port) < 65536 and not (_KINDS[kind] == "udpin" and int(port) == 0):
        raise ValueError(f"vehicle URL {url!r}: port {port} is out of range")
    return VehicleAddress(_KINDS[kind], host, int(port))


class TcpEnd:
    """A connected non-blocking TCP socket; what the peer cannot take yet waits in `out`."""

    MAX_BUFFER = 16 << 20  # past this the peer is not reading: drop rather than grow for ever

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # frames go out at once
        self.sock = sock
        self.out = bytearray()

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self) -> bytes | None:
        """Bytes read; b"" when the peer closed; None when nothing was there after all."""
        try:
            return self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    def send(self, items: list[bytes]) -> int:
        """Queue the items for the peer; returns how many were accepted (all or none)."""
        data = b"".join(items)
        if len(self.out) + len(data) > self.MAX_BUFFER:
            return 0
        self.out += data
        self.flush()
        return len(items)

    def flush(self) -> None:
        """Write what the socket takes now; raises OSError if the peer is gone."""
        while self.out:
            try:
                n = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                return
            del self.out[:n]

    @property
    def wants_write(self) -> bool:
        return bool(self.out)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class UdpEnd:
    """A UDP socket to the vehicle; every forwarded frame is one datagram."""

    def __init__(self, sock: socket.socket, peer: tuple[str, int] | None) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock = sock
        self.peer = peer  # None for udpin until the vehicle's first datagram
        self._learn = peer is None

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self) -> bytes | None:
        try:
            data, addr = self.sock.recvfrom(65536)
        except (BlockingIOError, InterruptedError, ConnectionRefusedError):
            return None  # ICMP port unreachable from a vehicle not listening yet: not fatal
        if self._learn:
            self.peer = addr
        return data

    def send(self, items: list[bytes]) -> int:
        if self.peer is None:
            return 0
        sent = 0
        for data in items:
            try:
                self.sock.sendto(data, self.peer)
                sent += 1
            except OSError:  # full buffer or nobody listening: a lost datagram, as on a radio
                pass
        return sent

    def flush(self) -> None:
        pass

    wants_write = False

    def close(self) -> None:
        self.sock.close()


def open_vehicle(addr: VehicleAddress, timeout_s: float = 5.0) -> TcpEnd | UdpEnd:
    """Connect (tcp), or open the UDP socket, toward the vehicle."""
    if addr.kind == "tcp":
        try:
            sock = socket.create_connection((addr.host, addr.port), timeout=timeout_s)
        except OSError as exc:
            raise DriverError(
                f"impairment proxy: cannot connect to the vehicle at {addr.url}: "
                f"{exc.strerror or exc}"
            ) from exc
        return TcpEnd(sock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if addr.kind == "udpin":
            sock.bind((addr.host, addr.port))
            return UdpEnd(sock, None)
        sock.bind((LOOPBACK, 0))
        return UdpEnd(sock, (addr.host, addr.port))
    except OSError as exc:
        sock.close()
        raise DriverError(
            f"impairment proxy: cannot open {addr.url}: {exc.strerror or exc}"
        ) from exc
