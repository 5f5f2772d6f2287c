"""Lab-bench guarantees, proven against the built-in simulator run as a "hardware" endpoint:
nothing arms without the run's opt-in, flight checks are skipped with a reason, parameters are
put back exactly (the run reports the difference: empty), and the vehicle is left disarmed, also
after Ctrl-C."""

import json

import pytest

from drivers.link.connection import Link
from drivers.services.vehicle import Vehicle
from drivers.vehicles.sim_driver import SimDriver
from tests.run_pytest import ROOT, run_pytest

SCENARIO = str(ROOT / "tests" / "scenarios" / "bench_checks.py")


@pytest.fixture
def bench_sim(tmp_path):
    driver = SimDriver({"driver": "sim", "speedup": 20}, tmp_path / "bench-sim")
    driver.start()
    yield driver
    driver.stop()


def bench_profile(path, url, arming="forbidden"):
    path.write_text(
        "skyproof: 1\nname: bench\n"
        f"vehicle: {{driver: endpoint, connect: '{url}', hardware: true, arming: {arming}}}\n"
    )
    return path


def vehicle_state(url):
    with Link(url, vehicle_sysid=1) as link:
        v = Vehicle(link)
        v.connect()
        return v.armed, v.get_param("RTL_ALT")


def test_bench_run_arms_nothing_and_puts_parameters_back(bench_sim, tmp_path):
    _, rtl_alt = vehicle_state(bench_sim.url)
    profile = bench_profile(tmp_path / "bench.yaml", bench_sim.url)
    run = run_pytest(SCENARIO, "--profile", str(profile), "-rs", report_dir=tmp_path / "r")
    # the arming attempt is refused by skyproof itself, the flight check skipped with a reason
    assert "arming refused by skyproof: this is hardware" in run.output, run.output[-3000:]
    assert "SKIPPED" in run.output and "lacks flight" in run.output
    # the parameter changed behind the harness's back was put back, and the vehicle is disarmed
    report = _bench_json(run)
    assert report["restored"] == ["RTL_ALT"] and report["still_different"] == {}
    assert report["disarmed"] is True
    assert vehicle_state(bench_sim.url) == (False, rtl_alt)
    summary = (run.run_dir / "summary.md").read_text()
    assert "parameters restored after the run: RTL_ALT" in summary
    assert "still different from before the run: none" in summary


def test_with_props_off_and_arming_allowed_a_check_may_arm(bench_sim, tmp_path):
    profile = bench_profile(tmp_path / "bench.yaml", bench_sim.url, arming="allowed")
    run = run_pytest(
        SCENARIO, "--profile", str(profile), "--props-off", "-k", "arm or flight",
        report_dir=tmp_path / "r",
    )  # fmt: skip
    assert "2 passed" in run.output, run.output[-3000:]
    assert vehicle_state(bench_sim.url)[0] is False  # and it is left disarmed


def test_ctrl_c_leaves_the_bench_vehicle_disarmed(bench_sim, tmp_path, monkeypatch):
    monkeypatch.setenv("SKYPROOF_TEST_INTERRUPT", "1")
    profile = bench_profile(tmp_path / "bench.yaml", bench_sim.url, arming="allowed")
    run = run_pytest(
        SCENARIO, "--profile", str(profile), "--props-off", "-k", "interrupted",
        report_dir=tmp_path / "r",
    )  # fmt: skip
    assert run.code == 2, run.output[-3000:]  # interrupted
    assert vehicle_state(bench_sim.url)[0] is False
    assert _bench_json(run)["disarmed"] is True


def test_hardware_refuses_parallel_workers(bench_sim, tmp_path):
    profile = bench_profile(tmp_path / "bench.yaml", bench_sim.url)
    run = run_pytest("suites", "--profile", str(profile), "-n", "2", report_dir=tmp_path / "r")
    assert run.code == 4 and "a hardware vehicle is one vehicle" in run.output


def _bench_json(run):
    return json.loads((run.run_dir / "bench.json").read_text())
