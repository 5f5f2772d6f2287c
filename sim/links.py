"""Links: one socket endpoint = one MAVLink channel (own sequence numbers), like an ArduPilot
serial port. tcp (listen, many clients share the channel), udpin (reply to the last sender),
udpout (send to a fixed address, read replies on the same socket). Loopback only.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.mav import MAVLink, MAVLinkMessage, mavlink

LOOPBACK = {"127.0.0.1", "localhost"}
KINDS = ("tcp", "udpin", "udpout")
MAX_TCP_BACKLOG = 4 << 20  # a client this far behind is dropped rather than stall the vehicle


class LinkError(Exception):
    """A link cannot be opened; the message is one line for stderr."""


@dataclass(frozen=True)
class LinkSpec:
    kind: str
    host: str
    port: int

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.host}:{self.port}"


def parse_spec(text: str, outgoing: bool) -> LinkSpec:
    """Parse `tcp:HOST:PORT`, `udpin:HOST:PORT` (listen) or `udpout:HOST:PORT` (out)."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"expected KIND:HOST:PORT, got {text!r}")
    kind, host, port_s = parts
    allowed = ("udpout",) if outgoing else ("tcp", "udpin")
    if kind not in allowed:
        raise ValueError(f"{text!r}: kind must be one of {', '.join(allowed)}")
    if host not in LOOPBACK:
        # The harness must never reach another address: refuse, don't just warn.
        raise ValueError(f"{text!r}: only 127.0.0.1/localhost is allowed")
    try:
        port = int(port_s)
    except ValueError:
        raise ValueError(f"{text!r}: port must be a number") from None
    if not (0 <= port <= 65535) or (outgoing and port == 0):
        raise ValueError(f"{text!r}: bad port {port}")
    return LinkSpec(kind, "127.0.0.1", port)


MessageHandler = Callable[["Link", MAVLinkMessage], None]


class Link:
    """One channel: a sending MAVLink object plus per-peer parsers."""

    verb = "listening on"

    def __init__(self, index: int, spec: LinkSpec, sysid: int, on_message: MessageHandler,
                 on_bad: MessageHandler) -> None:
        self.index = index
        self.spec = spec
        self.on_message = on_message
        self.on_bad = on_bad
        self.mav = MAVLink(self, sysid, mavlink.MAV_COMP_ID_AUTOPILOT1)
        self.bad_frames = 0
        self.address = spec.text  # real address once bound (port 0 resolved)
        # Hooks for sim/signing.py and sim/radio.py: the parser class (signature checks),
        # and per-frame filters (False = the frame is lost on the way).
        self.parser_factory: Callable[[Any, int, int], MAVLink] = MAVLink
        self.tx_filter: Callable[[bytes], bool] | None = None
        self.rx_filter: Callable[[MAVLinkMessage], bool] | None = None
        self.frames_in = 0  # every frame parsed here, good or bad (garbage counts per chunk)
        self.load_mark: tuple[float, int] | None = None  # for others_flooding()

    # -- every parser of this link is made here --
    def new_parser(self) -> MAVLink:
        p = self.parser_factory(None, self.mav.srcSystem, self.mav.srcComponent)
        p.robust_parsing = True  # garbage yields bad_data messages, never exceptions
        return p

    def feed(self, parser: MAVLink, data: bytes) -> None:
        try:
            msgs = parser.parse_buffer(data) or []
        except Exception:  # pymavlink can still raise on odd input; drop, never die
            self.bad_frames += 1
            return
        self.frames_in += len(msgs)
        for m in msgs:
            if isinstance(m, mavlink.MAVLink_bad_data):
                self.bad_frames += 1
                self.on_bad(self, m)
            elif not isinstance(m, mavlink.MAVLink_unknown) and (
                    self.rx_filter is None or self.rx_filter(m)):
                self.on_message(self, m)

    def send(self, msg: MAVLinkMessage) -> None:
        self.mav.send(msg)

    def write(self, buf: bytes) -> None:  # pymavlink calls this from MAVLink.send: one frame
        if self.tx_filter is None or self.tx_filter(buf):
            self.write_raw(buf)

    def write_raw(self, buf: bytes) -> None:
        raise NotImplementedError

    def has_peer(self) -> bool:
        """Whether anyone is there to take what this channel sends (a TCP channel whose last
        client left has no one)."""
        return True

    def register(self, sel: selectors.BaseSelector) -> None:
        raise NotImplementedError

    def close(self, sel: selectors.BaseSelector) -> None:
        raise NotImplementedError


FLOOD_FRAMES_PER_S = 100.0  # fault acks_lost_under_flood: what counts as a flood
LOAD_WINDOW_MAX_S = 2.0


def others_flooding(links: list[Link], link: Link, now: float) -> bool:
    """Fault acks_lost_under_flood: whether the links other than `link` brought in more than
    FLOOD_FRAMES_PER_S frames per vehicle second since this was last asked for `link` (a
    window longer than LOAD_WINDOW_MAX_S, or the first ask, says no)."""
    total = sum(ln.frames_in for ln in links if ln is not link)
    last, link.load_mark = link.load_mark, (now, total)
    if last is None or not 0 < now - last[0] <= LOAD_WINDOW_MAX_S:
        return False
    return (total - last[1]) / (now - last[0]) > FLOOD_FRAMES_PER_S


def _bind_error(spec: LinkSpec, exc: OSError) -> LinkError:
    why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return LinkError(f"cannot listen on {spec.text}: {why}")


class _TcpClient:
    def __init__(self, sock: socket.socket, parser: MAVLink) -> None:
        self.sock = sock
        self.parser = parser
        self.out = bytearray()


class TcpLink(Link):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clients: list[_TcpClient] = []
        self._sel: selectors.BaseSelector | None = None
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart quickly after a run
        try:
            s.bind((self.spec.host, self.spec.port))
            s.listen(8)
        except OSError as exc:
            s.close()
            raise _bind_error(self.spec, exc) from None
        s.setblocking(False)
        self.server = s
        self.address = f"tcp:{self.spec.host}:{s.getsockname()[1]}"

    def register(self, sel: selectors.BaseSelector) -> None:
        self._sel = sel
        sel.register(self.server, selectors.EVENT_READ, self._accept)

    def _accept(self, _mask: int) -> None:
        try:
            sock, _ = self.server.accept()
        except OSError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = _TcpClient(sock, self.new_parser())
        self.clients.append(client)
        assert self._sel is not None
        self._sel.register(sock, selectors.EVENT_READ, lambda mask: self._io(client, mask))

    def _io(self, client: _TcpClient, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(client)
        if mask & selectors.EVENT_READ and client in self.clients:
            try:
                data = client.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._drop(client)  # a client leaving is normal: keep running
                return
            self.feed(client.parser, data)

    def _drop(self, client: _TcpClient) -> None:
        if client in self.clients:
            self.clients.remove(client)
            if self._sel is not None:
                self._sel.unregister(client.sock)
            client.sock.close()

    def _flush(self, client: _TcpClient) -> None:
        try:
            n = client.sock.send(client.out)
            del client.out[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(client)
            return
        if self._sel is not None and client in self.clients:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
            self._sel.modify(client.sock, events, lambda mask: self._io(client, mask))

    def write_raw(self, buf: bytes) -> None:
        for client in list(self.clients):
            pending = bool(client.out)
            client.out += buf
            if len(client.out) > MAX_TCP_BACKLOG:
                self._drop(client)
            elif not pending:
                self._flush(client)

    def has_peer(self) -> bool:
        return bool(self.clients)

    def close(self, sel: selectors.BaseSelector) -> None:
        for client in list(self.clients):
            self._drop(client)
        sel.unregister(self.server)
        self.server.close()


class _UdpLink(Link):
    """Shared by udpin and udpout: one socket, a parser per peer address."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.peer: tuple[str, int] | None = None
        self.parsers: dict[tuple[str, int], MAVLink] = {}

    def register(self, sel: selectors.BaseSelector) -> None:
        self.sock.setblocking(False)
        sel.register(self.sock, selectors.EVENT_READ, self._read)

    def _read(self, _mask: int) -> None:
        for _ in range(64):  # bounded so one busy peer cannot starve the physics
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ICMP port unreachable reported on the socket
            self._from(addr)
            parser = self.parsers.get(addr)
            if parser is None:
                if len(self.parsers) > 64:
                    self.parsers.clear()
                parser = self.parsers[addr] = self.new_parser()
            self.feed(parser, data)

    def _from(self, addr: tuple[str, int]) -> None:
        pass

    def write_raw(self, buf: bytes) -> None:
        if self.peer is None:
            return
        with contextlib.suppress(OSError):  # nobody listening, or buffer full: UDP may drop
            self.sock.sendto(buf, self.peer)

    def close(self, sel: selectors.BaseSelector) -> None:
        sel.unregister(self.sock)
        self.sock.close()


class UdpInLink(_UdpLink):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.sock.bind((self.spec.host, self.spec.port))
        except OSError as exc:
            self.sock.close()
            raise _bind_error(self.spec, exc) from None
        self.address = f"udpin:{self.spec.host}:{self.sock.getsockname()[1]}"

    def _from(self, addr: tuple[str, int]) -> None:
        self.peer = addr  # reply to whoever spoke last, as ArduPilot's udpin does


class UdpOutLink(_UdpLink):
    verb = "sending to"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sock.bind((self.spec.host, 0))  # replies come back to this ephemeral port
        self.peer = (self.spec.host, self.spec.port)


def open_link(index: int, spec: LinkSpec, sysid: int, on_message: MessageHandler,
              on_bad: MessageHandler) -> Link:
    cls = {"tcp": TcpLink, "udpin": UdpInLink, "udpout": UdpOutLink}[spec.kind]
    return cls(index, spec, sysid, on_message, on_bad)
