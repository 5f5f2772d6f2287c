"""Degraded link: with the impairment proxy degrading both directions as each profile scenario
says (loss, latency, ...), commands are still acknowledged within a bound, a mission upload
arrives intact (and a resent last item is answered), and telemetry degrades no more than the
link does."""

import pytest

from drivers.impair.impairment import Impairment
from drivers.services import mission
from drivers.services.flavour import mission_starts_with_home
from drivers.services.link_quality import command_round_trips, observe, percentile_figure, settle


def impairment(scenario: dict) -> Impairment:
    return Impairment(**{k: v for k, v in scenario.items() if k != "name"})


@pytest.mark.requirement("MAV-COMMAND", "GB42590-4.11")
def test_commands_are_acknowledged_on_a_degraded_link(proxy, vehicle, settings, scenario, measure):
    # given a link degraded both ways as the scenario says
    proxy.set("both", impairment(scenario))
    # when we send commands, each resent every 0.25 s until degraded_ack_s has passed
    bound = settings["degraded_ack_s"]
    probes = command_round_trips(
        vehicle, settings["probes"], interval_s=0.5, ack_timeout_s=0.25, within_s=bound
    )
    # then every command is acknowledged within the bound
    rtts = [p.rtt_s for p in probes if p.rtt_s is not None]
    late = [p for p in probes if p.rtt_s is None or p.rtt_s > bound]
    m = measure.at_most(f"commands not acknowledged within {bound:g} s", len(late), "", 0)
    label, value = percentile_figure(rtts, 95)  # "max" when too few probes for a p95
    measure.record_value(f"command round trip {label}, resends included", value, "s")
    measure.record_value("slowest acknowledged command", max(rtts, default=float("nan")), "s")
    assert m.ok, f"{m} (of {len(probes)})"


@pytest.mark.requirement("MAV-MISSION", "GB42590-4.11")
def test_a_mission_upload_arrives_intact_on_a_degraded_link(
    proxy, vehicle, settings, scenario, measure
):
    # given a 10-item plan around where the vehicle is, and a degraded link
    # (a known position is all this needs: waiting for arming readiness would make the check
    # depend on streams, such as EKF_STATUS_REPORT, that it does not verify)
    here = vehicle.link.wait(
        "a known position (GLOBAL_POSITION_INT lat/lon not 0)",
        ["GLOBAL_POSITION_INT"],
        lambda m: m.get_srcSystem() == vehicle.sysid and (m.lat != 0 or m.lon != 0),
        timeout_s=settings.get("ready_timeout_s", 60),
        include_latest=True,
    ).msg
    lat, lon = here.lat / 1e7, here.lon / 1e7
    # (item 0 is home to ArduPilot, which writes its own there; PX4 keeps it as a waypoint)
    plan = [mission.Item(lat, lon, 0)] + [
        mission.Item(lat + 1e-4 * (i % 3), lon + 1e-4 * (i // 3), 10 + i) for i in range(1, 10)
    ]
    proxy.set("both", impairment(scenario))
    # when we upload it (the protocol resends on timeout)
    stats = mission.upload(vehicle, plan, step_timeout_s=1.5, retries=10)
    measure.record_value("upload resends", stats.retries, "")
    measure.record_value("upload duration", stats.duration_s, "s")
    # and then resend the last item, as a ground station does whose final MISSION_ACK was lost
    # (on a lossy link that happens now and then; doing it on purpose makes the check able to
    # fail every time against a vehicle that leaves such a ground station unanswered)
    result = mission.resend_last_item(vehicle, plan, step_timeout_s=1.5, retries=10)
    measure.record_value("MISSION_ACK result for the resent last item", result, "")
    # then, read back over a clean link, every item is what we sent
    proxy.clear()
    back = mission.download(vehicle)
    mission.clear(vehicle)
    first = 1 if mission_starts_with_home(vehicle.autopilot) else 0  # home is the vehicle's own
    differ = sum(1 for a, b in zip(plan[first:], back[first:], strict=False) if not a.same_place(b))
    differ += abs(len(back) - len(plan))
    m = measure.at_most("items that differ after the upload", differ, "", 0)
    assert m.ok, f"{m} (sent {len(plan)}, read back {len(back)})"


@pytest.mark.requirement("MAV-SEQ", "MAV-MSG-INTERVAL", "GB42590-4.11")
def test_telemetry_degrades_no_more_than_the_link(proxy, vehicle, settings, scenario, measure):
    # given the profile's streams, and a link degraded both ways
    for name, hz in settings["streams"].items():
        vehicle.request_stream(name, hz)
    proxy.set("both", impairment(scenario))
    down, stats = proxy.counters["down"], vehicle.link.stats  # a snapshot of the proxy's count
    before = (down.dropped + down.corrupted, stats.total_lost, down.sent_by)
    # when we watch the vehicle for sample_s
    window = observe(vehicle.link, vehicle.sysid, vehicle.compid, settings["sample_s"])
    into_link = proxy.counters["down"].sent_by  # what the vehicle sent, before the impairment
    # (the impairment ends with the window; a frame lost near its end shows as a gap in `seq`
    # only when its sender's next frame arrives, up to a second later for a 1 Hz sender, so
    # wait for one more frame from every sender before comparing the counts: otherwise the
    # proxy's count runs ahead and the difference comes out negative)
    proxy.clear()
    down = proxy.counters["down"]
    injected = down.dropped + down.corrupted - before[0]
    settle(vehicle.link, timeout_s=5.0)
    seen = stats.total_lost - before[1]  # every sender behind the proxy, not just the autopilot
    # then the vehicle keeps sending each stream at its rate (counted where it enters the link,
    # so the link's random loss adds no noise to the figure), and what arrives is all the link
    # let through: the loss seen in sequence numbers is the loss the proxy made (a vehicle that
    # skips frames shows more)
    keep = 1 - settings["degraded_rate_tolerance"]
    rates = []
    for name, hz in settings["streams"].items():
        key = (vehicle.sysid, vehicle.compid, name)
        sent_hz = (into_link.get(key, 0) - before[2].get(key, 0)) / window.duration_s
        measure.record_value(f"{name} rate received", window.rate(name), "Hz")
        rates.append(measure.at_least(f"{name} rate", sent_hz, "Hz", hz * keep))
    extra = measure.at_most(
        "frames lost beyond what the proxy dropped",
        seen - injected,
        "frames",
        max(3, 0.02 * (window.received + window.lost)),  # slack: 2 % of the frames, >= 3
    )
    measure.record_value(
        "frames of messages outside the dialect", sum(window.outside_dialect.values()), ""
    )
    failed = [m for m in [*rates, extra] if not m.ok]
    assert not failed, "; ".join(map(str, failed)) + f" ({window.describe_outside_dialect()})"
