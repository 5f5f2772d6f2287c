"""Nominal link: telemetry at the rates asked for, no frames lost, and TIMESYNC and command
round trips within the profile's bounds, all measured in vehicle time."""

import pytest

from drivers.services.link_quality import (
    clock_disagreement_s,
    command_round_trips,
    observe,
    percentile,
    percentile_figure,
    timesync,
)


@pytest.mark.requirement("MAV-MSG-INTERVAL")
def test_streams_arrive_at_the_rates_asked(vehicle, settings, measure):
    # given the streams the profile asks for
    for name, hz in settings["streams"].items():
        vehicle.request_stream(name, hz)
    vehicle.link.elapse(1.0)  # one vehicle second for the new intervals to take effect
    # when we watch the vehicle for sample_s
    window = observe(vehicle.link, vehicle.sysid, vehicle.compid, settings["sample_s"])
    # then each stream arrives within rate_tolerance of its rate
    tol = settings["rate_tolerance"]
    rates = [
        measure.within(f"{name} rate", window.rate(name), "Hz", hz * (1 - tol), hz * (1 + tol))
        for name, hz in settings["streams"].items()
    ]
    assert all(m.ok for m in rates), "; ".join(str(m) for m in rates if not m.ok)


@pytest.mark.requirement("MAV-SEQ")
def test_nothing_is_lost_on_a_nominal_link(vehicle, settings, measure):
    # given a connected vehicle, when we count its frames by sequence number for sample_s
    window = observe(vehicle.link, vehicle.sysid, vehicle.compid, settings["sample_s"])
    # then (almost) none are missing (every frame counts, including those of messages outside
    # the harness's dialect: they are reported, not taken for loss)
    measure.record_value(
        "frames of messages outside the dialect", sum(window.outside_dialect.values()), ""
    )
    m = measure.at_most(
        "frames lost (from seq)", 100 * window.loss_ratio, "%", 100 * settings["max_loss"]
    )
    assert m.ok, (
        f"{m}: {window.lost} lost, {window.received} received "
        f"({window.describe_outside_dialect()})"
    )


@pytest.mark.requirement("MAV-TIMESYNC")
def test_timesync_round_trip(vehicle, settings, measure):
    # given a connected vehicle, when we send TIMESYNC probes every half second of its time
    probes = timesync(vehicle, settings["probes"], interval_s=0.5, timeout_s=2.0)
    # then every probe is answered, quickly enough
    rtts = [p.rtt_s * 1000 for p in probes if p.rtt_s is not None]
    measure.series(
        "TIMESYNC round trip",
        "ms",
        [(p.t, p.rtt_s * 1000) for p in probes if p.rtt_s is not None],
        high=settings["rtt_p95_ms"],
    )
    lost = measure.at_most("TIMESYNC probes unanswered", len(probes) - len(rtts), "", 0)
    measure.record_value("TIMESYNC round trip p50", percentile(rtts, 50), "ms")
    # the 95th percentile of fewer than 21 round trips is the slowest one: named so
    label, value = percentile_figure(rtts, 95)
    p95 = measure.at_most(f"TIMESYNC round trip {label}", value, "ms", settings["rtt_p95_ms"])
    assert lost.ok and p95.ok, f"{lost}; {p95}"


@pytest.mark.requirement("MAV-TIMESYNC")
def test_timesync_answer_carries_the_vehicle_clock(vehicle, settings, measure):
    # given a connected vehicle, when we send TIMESYNC probes every half second of its time
    probes = timesync(vehicle, settings["probes"], interval_s=0.5, timeout_s=2.0)
    # then every answer echoes its probe's ts1 (none comes back with another) ...
    unechoed = measure.at_most("TIMESYNC answers that echo no probe's ts1", probes.unechoed, "", 0)
    # ... and carries the vehicle's own clock in tc1, in nanoseconds: between two answers tc1
    # moves on by the vehicle time that passed between them (known to within a round trip)
    off = clock_disagreement_s(probes) * 1000
    clock = measure.at_most(
        "TIMESYNC tc1 away from the vehicle time that passed", off, "ms", settings["rtt_p95_ms"]
    )
    answered = [p for p in probes if p.tc1_ns is not None]
    span = f"tc1 {answered[0].tc1_ns} .. {answered[-1].tc1_ns} ns" if answered else "no answer"
    assert unechoed.ok and clock.ok, f"{unechoed}; {clock} ({span} over {len(probes)} probes)"


@pytest.mark.requirement("MAV-COMMAND")
def test_command_round_trip(vehicle, settings, measure):
    # given a connected vehicle, when we send a harmless command every half second of its time
    probes = command_round_trips(vehicle, settings["probes"], interval_s=0.5)
    # then every one is acknowledged, quickly enough
    rtts = [p.rtt_s * 1000 for p in probes if p.rtt_s is not None]
    lost = measure.at_most("commands unanswered", len(probes) - len(rtts), "", 0)
    label, value = percentile_figure(rtts, 95)  # "max" when too few probes for a p95
    p95 = measure.at_most(
        f"command round trip {label}", value, "ms", settings["command_rtt_p95_ms"]
    )
    assert lost.ok and p95.ok, f"{lost}; {p95}"
