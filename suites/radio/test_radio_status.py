"""RADIO_STATUS on the ground: the radio reports about once a second; its fields are in range
(txbuf a percentage; rssi and remrssi known, 255 being "unknown", never averaged in, while both
radios hear each other); the reports are live (a radio that repeats one report forever tells
the operator nothing); and its counters since boot never step back where they move: the radio
is made to lose frames (vehicle.radio.weak_link_params), as counters that never move prove
nothing."""

import statistics

import pytest

from drivers.services.radio_status import ENDS, UNKNOWN, Report, collect, known, steps_back


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
def test_radio_status_fields_are_in_range_and_live(vehicle, radio, settings, measure):
    # given a vehicle with a radio on the ground beside its ground station, when we collect its
    # reports for sample_s vehicle seconds
    reports = collect(vehicle.link, settings["sample_s"])
    enough = measure.at_least("RADIO_STATUS reports to judge", len(reports), "", 2)
    if not enough.ok:
        pytest.fail(f"{enough}: nothing to judge the fields by")
    _figures(reports, measure)
    # then txbuf is a percentage; rssi and remrssi are known (0..254: 255 says "unknown", and
    # both radios hear each other here, as the vehicle's telemetry shows); the reports change
    txbuf = measure.at_most(
        "txbuf values outside 0..100 %", sum(r.txbuf > 100 for r in reports), "", 0
    )
    unknown = [
        measure.at_most(f"{end} RSSI reported unknown (255) while the radios hear each other",
                        sum((r.rssi if end == "local" else r.remrssi) == UNKNOWN for r in reports),
                        "", 0)
        for end in ENDS
    ]  # fmt: skip
    distinct = measure.at_least(
        "distinct RADIO_STATUS reports (rssi, noise, txbuf, counters)",
        len({r.fields() for r in reports}), "", 2,
    )  # fmt: skip
    failed = [m for m in (txbuf, *unknown, distinct) if not m.ok]
    assert not failed, "; ".join(map(str, failed)) + (
        " (the radio repeats one frozen report)" if not distinct.ok else ""
    ) + f" (of {len(reports)} reports)"


@pytest.mark.requirement("MAV-RADIO-STATUS")
def test_radio_counters_never_step_back_while_frames_are_lost(
    vehicle, radio, settings, measure
):
    # given a radio made to lose some frames where the vehicle stands (the profile's
    # vehicle.radio.weak_link_params, journaled: a simulator's weaker transmitter, say)
    weak = radio.get("weak_link_params", {})
    for name, value in weak.items():
        vehicle.set_param(name, value)
    # when we collect its reports for sample_s vehicle seconds, and count the vehicle's frames
    # lost on the way down (from their sequence numbers)
    stream = vehicle.link.stats.stream(vehicle.sysid, vehicle.compid)
    lost_before = stream.lost
    reports = collect(vehicle.link, settings["sample_s"])
    lost = vehicle.link.stats.stream(vehicle.sysid, vehicle.compid).lost - lost_before
    measure.record_value("vehicle frames lost on the way down (from seq)", lost, "")
    enough = measure.at_least("RADIO_STATUS reports to judge", len(reports), "", 2)
    if not enough.ok:
        pytest.fail(f"{enough}: nothing to judge the counters by")
    if lost == 0 and not weak:
        pytest.skip("the radio lost no frame and the profile gives no way to make it "
                    "(vehicle.radio.weak_link_params): counters that never move prove nothing")
    precondition = measure.at_least("frames lost while the counters were sampled", lost, "", 1)
    if not precondition.ok:
        pytest.fail(f"{precondition}: vehicle.radio.weak_link_params {weak} did not make the "
                    "radio lose frames, so its counters cannot be judged")  # fmt: skip
    # then the counters since boot count the errors, and never step back
    rx = [r.rxerrors for r in reports]
    counted = measure.at_least(
        f"rxerrors growth while {lost} frames were lost", max(rx) - rx[0], "", 1
    )
    back = [
        measure.at_most(f"{name} steps back", steps_back(getattr(r, name) for r in reports), "", 0)
        for name in ("rxerrors", "fixed")
    ]
    failed = [m for m in (*back, counted) if not m.ok]
    shown = ", ".join(f"{r.rxerrors}/{r.fixed}" for r in reports)
    assert not failed, "; ".join(map(str, failed)) + f" (rxerrors/fixed reported: {shown})"


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
