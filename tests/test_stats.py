"""Stream statistics from MAVLink sequence numbers, including the 255 -> 0 wrap-around."""

import pytest

from drivers.link.stats import LinkStats, StreamStats
from drivers.services.link_quality import Window


@pytest.mark.parametrize(
    ("seqs", "lost"),
    [
        ([0, 1, 2, 3], 0),
        ([253, 254, 255, 0, 1], 0),  # wrap-around is not loss
        ([254, 1], 2),  # 255 and 0 lost across the wrap
        ([10, 12, 15], 3),
        ([0, 0], 255),  # a repeat looks like a full lap lost: 8-bit seq cannot tell
    ],
)
def test_loss_counts_sequence_gaps_modulo_256(seqs, lost):
    stream = StreamStats()
    for seq in seqs:
        stream.update(seq, "HEARTBEAT")
    assert (stream.received, stream.lost) == (len(seqs), lost)


def test_streams_are_kept_apart_per_sender():
    stats = LinkStats()
    stats.update(1, 1, 5, "HEARTBEAT")
    stats.update(51, 68, 200, "RADIO_STATUS")
    stats.update(1, 1, 7, "ATTITUDE")
    assert stats.stream(1, 1).lost == 1
    assert stats.stream(51, 68).lost == 0
    assert stats.stream(1, 1).by_type == {"HEARTBEAT": 1, "ATTITUDE": 1}
    assert stats.stream(1, 1).loss_ratio == pytest.approx(1 / 3)


def test_frames_outside_the_dialect_are_received_and_listed():
    stream = StreamStats()
    types = ["HEARTBEAT", "UNKNOWN_290", "ATTITUDE", "UNKNOWN_290", "UNKNOWN_8"]
    for seq, mtype in enumerate(types):
        stream.update(seq, mtype)
    assert (stream.received, stream.lost) == (5, 0)
    assert stream.outside_dialect == {"UNKNOWN_290": 2, "UNKNOWN_8": 1}
    window = Window(1.0, dict(stream.by_type), stream.received, stream.lost)
    assert window.describe_outside_dialect() == (
        "3 frames of 2 message types outside the dialect (UNKNOWN_290 UNKNOWN_8), counted as "
        "received"
    )
    assert Window(1.0, {"HEARTBEAT": 1}, 1, 0).describe_outside_dialect() == (
        "no frames outside the dialect"
    )
