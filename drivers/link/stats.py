"""Per-stream link statistics from MAVLink's 8-bit sequence number.

Every (sysid, compid) sender numbers its frames 0..255 and wraps around; a jump in that
number is frames lost on the way (mavlink.io, "Packet loss"). Every frame counts, including
those of messages outside the dialect (their header is read from their bytes, see
drivers/mavlink.py frame_header): a frame pymavlink cannot decode is not a lost one.
"""

from dataclasses import dataclass, field


class Tally:
    """What a count of one sender's frames says: `received`, `lost` (by sequence numbers) and
    `by_type` (frames per message type), kept by the class that mixes it in."""

    received: int
    lost: int
    by_type: dict[str, int]

    @property
    def loss_ratio(self) -> float:
        total = self.received + self.lost
        return self.lost / total if total else 0.0

    @property
    def outside_dialect(self) -> dict[str, int]:
        """Frames of messages the dialect does not know (pymavlink's UNKNOWN_<id>), per type:
        they arrived, and count as received, but nothing in them could be read beyond the
        header."""
        return {t: n for t, n in self.by_type.items() if t.startswith("UNKNOWN_")}


@dataclass
class StreamStats(Tally):
    received: int = 0
    lost: int = 0
    last_seq: int | None = None
    by_type: dict[str, int] = field(default_factory=dict)

    def update(self, seq: int, msg_type: str) -> None:
        if self.last_seq is not None:
            # modulo 256 handles the wrap-around (255 -> 0 is no loss).
            self.lost += (seq - self.last_seq - 1) & 0xFF
        self.last_seq = seq
        self.received += 1
        self.by_type[msg_type] = self.by_type.get(msg_type, 0) + 1


class LinkStats:
    """Statistics of every stream seen on one link, keyed by (sysid, compid)."""

    def __init__(self) -> None:
        self.streams: dict[tuple[int, int], StreamStats] = {}
        self.bad_frames = 0  # frames pymavlink refused (CRC, length, signature)

    def add(self, key: tuple[int, int]) -> StreamStats:
        stream = self.streams[key] = StreamStats()
        return stream

    def update(self, sysid: int, compid: int, seq: int, msg_type: str) -> None:
        (self.streams.get((sysid, compid)) or self.add((sysid, compid))).update(seq, msg_type)

    @property
    def total_lost(self) -> int:
        return sum(s.lost for s in self.streams.values())

    def stream(self, sysid: int, compid: int) -> StreamStats:
        return self.streams.get((sysid, compid), StreamStats())
