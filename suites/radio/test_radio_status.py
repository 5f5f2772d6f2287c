"""RADIO_STATUS on the ground: the radio reports about once a second, its fields are in range,
255 is taken as "unknown" (never averaged in), its counters since boot never step back, and the
reports are live (a radio that repeats one report forever tells the operator nothing)."""

import statistics

import pytest

from drivers.radio_status import ENDS, UNKNOWN, Report, collect, known, steps_back


@pytest.mark.requirement("MAV-RADIO-STATUS")
def test_radio_status_arrives_at_about_1hz(vehicle, radio, settings, measure):
    # given a vehicle with a radio, when we listen for sample_s vehicle seconds
    reports = collect(vehicle.link, settings["sample_s"])
    # then RADIO_STATUS arrives at about 1 Hz
    low, high = settings["status_hz"]
    m = measure.within("RADIO_STATUS rate", len(reports) / settings["sample_s"], "Hz", low, high)
    senders = sorted({r.sender for r in reports})
    assert m.ok, f"{m} (from {senders or 'nobody'})"


@pytest.mark.requirement("MAV-RADIO-STATUS")
def test_radio_status_fields_and_counters(vehicle, radio, settings, measure):
    # given a vehicle with a radio, when we collect its reports for sample_s vehicle seconds
    reports = collect(vehicle.link, settings["sample_s"])
    enough = measure.at_least("RADIO_STATUS reports to judge", len(reports), "", 2)
    if not enough.ok:
        pytest.fail(f"{enough}: nothing to judge the fields and counters by")
    _figures(reports, measure)
    # then txbuf is a percentage, the counters since boot never go down, and the reports change
    txbuf = measure.at_most(
        "txbuf values outside 0..100 %", sum(r.txbuf > 100 for r in reports), "", 0
    )
    back = [
        measure.at_most(f"{name} steps back", steps_back(getattr(r, name) for r in reports), "", 0)
        for name in ("rxerrors", "fixed")
    ]
    distinct = measure.at_least(
        "distinct RADIO_STATUS reports (rssi, noise, txbuf, counters)",
        len({r.fields() for r in reports}), "", 2,
    )  # fmt: skip
    failed = [m for m in (txbuf, *back, distinct) if not m.ok]
    assert not failed, "; ".join(map(str, failed)) + (
        " (the radio repeats one frozen report)" if not distinct.ok else ""
    )


def _figures(reports: list[Report], measure) -> None:
    """RSSI, noise and fade margin of both ends in dBm (unknown left out), counter growth, and
    a plot of the RSSI of each end."""
    for end in ENDS:
        rssi = known(r.rssi_dbm(end) for r in reports)
        margin = known(r.margin_db(end) for r in reports)
        raw = [r.rssi if end == "local" else r.remrssi for r in reports]
        measure.record_value(f"{end} RSSI reports unknown (255)", raw.count(UNKNOWN), "")
        if rssi:
            measure.record_value(f"{end} RSSI, median", statistics.median(rssi), "dBm")
        if margin:
            measure.record_value(f"{end} fade margin, median", statistics.median(margin), "dB")
        measure.series(
            f"{end} RSSI", "dBm", [(r.t, v) for r in reports if (v := r.rssi_dbm(end)) is not None]
        )
    for name in ("rxerrors", "fixed"):
        values = [getattr(r, name) for r in reports]
        measure.record_value(f"{name} growth over the sample", values[-1] - values[0], "")
    measure.record_value("txbuf, lowest", min(r.txbuf for r in reports), "%")
