"""The default profile, run as a user runs it, against a healthy simulator: every check passes
(channel 0's signing checks are the profile's stated exception), the run folder holds every
report, and `-n 2` gives the same verdicts."""

import xml.etree.ElementTree as ET

import pytest

from drivers.mavlink import mavutil
from tests.run_pytest import ROOT, run_pytest


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    return run_pytest("suites", report_dir=tmp_path_factory.mktemp("reports"))


def test_default_profile_passes_against_a_healthy_simulator(healthy):
    assert healthy.code == 0, healthy.output[-3000:]
    outcomes = healthy.outcomes()
    # every check passes, but for channel 0's signing checks: the default profile keeps
    # ArduPilot's policy (channel 0 trusted), so what channel 0 accepts is reported WAIVED
    waived = {name for name, outcome in outcomes.items() if outcome == "waived"}
    assert waived and all("[channel0" in name for name in waived), outcomes
    assert {o for n, o in outcomes.items() if n not in waived} == {"passed"}, outcomes
    assert "report: " in healthy.output and "summary.md" in healthy.output


def test_the_run_folder_holds_junit_allure_summary_and_tlogs(healthy):
    run = healthy.run_dir
    junit = ET.parse(run / "junit.xml").getroot()
    assert int(junit.find("testsuite").get("tests")) == len(healthy.outcomes())
    props = [p.get("name") for p in junit.iter("property")]
    assert "measurement" in props and "requirement" in props
    assert any((run / "allure-results").glob("*-result.json"))
    summary = (run / "summary.md").read_text()
    assert "verdict: PASS" in summary and "heartbeat rate" in summary and "MAV-HEARTBEAT" in summary
    assert (healthy.report_dir / "latest").resolve() == run


def test_every_check_records_measurements_and_requirements(healthy):
    for check in healthy.results["checks"]:
        assert check["requirements"], check["nodeid"]
        assert check["measurements"], check["nodeid"]
        assert all({"value", "unit", "threshold", "ok"} <= set(m) for m in check["measurements"])


# Checks that judge the profile alone, with no vehicle and so no tlog.
NO_VEHICLE = {"suites/radio/test_bands.py::test_declared_radio_bands_are_permitted"}


def test_each_check_has_a_tlog_that_pymavlink_reads(healthy):
    checks = healthy.results["checks"]
    assert {c["nodeid"] for c in checks if not c.get("tlog")} <= NO_VEHICLE
    for check in (c for c in checks if c.get("tlog")):
        path = ROOT / check["tlog"]  # relative to where the run started, or absolute
        log = mavutil.mavlink_connection(str(path))
        types = set()
        while (msg := log.recv_match()) is not None:
            types.add(msg.get_type())
        assert {"HEARTBEAT", "SYSTEM_TIME"} <= types, (path.name, types)


def test_two_workers_give_the_same_verdicts(healthy, tmp_path):
    parallel = run_pytest("suites", "-n", "2", report_dir=tmp_path)
    assert parallel.code == 0, parallel.output[-3000:]
    assert parallel.outcomes() == healthy.outcomes()
    own = parallel.report_dir / "vehicle-files" / parallel.run_dir.name
    assert {p.name for p in own.iterdir()} == {"gw0", "gw1"}


def test_collect_only_lists_checks_with_their_requirements(tmp_path):
    run = run_pytest("suites", "--collect-only", "-q", report_dir=tmp_path)
    assert run.code == 0, run.output
    assert "test_heartbeat_rate  [MAV-HEARTBEAT]" in run.output
    assert "test_arm_takeoff_land  [MAV-ARM, MAV-COMMAND, GB42590-4.8]" in run.output


def test_a_family_requirement_is_credited_only_for_the_vehicle_s_family(healthy, tmp_path):
    # the failsafe checks verify ArduPilot's AP-FS-GCS on the simulator (it answers as
    # ArduPilot), PX4's PX4-DL-LOSS on PX4; --collect-only, before any vehicle, lists both
    name = "test_gcs_loss.py::test_failsafe_fires_on_time"
    fired = next(c for c in healthy.results["checks"] if c["nodeid"].endswith(name))
    assert "AP-FS-GCS" in fired["requirements"] and "PX4-DL-LOSS" not in fired["requirements"]
    run = run_pytest("suites/failsafe", "--collect-only", "-q", report_dir=tmp_path)
    assert "test_failsafe_fires_on_time  [GB42590-4.3, AP-FS-GCS, PX4-DL-LOSS]" in run.output
