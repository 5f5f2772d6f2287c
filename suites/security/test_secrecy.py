"""The key stays secret (MAV-SIGN-KEY-SECRET): no form of it (raw, hex, base64, half of it, the
passphrase) is in any file of the run. Two places, two kinds of finding:
- the run's shareable artefacts (tlogs, with SETUP_SIGNING recorded redacted; Allure results,
  plots, reproducers): the key there is skyproof's own defect (origin "harness");
- the vehicle's own files (SITL's eeprom, dataflash logs, the simulator's log), kept apart in
  vehicle-files/: the key there is the vehicle's finding (ArduPilot logs @SYS/storage.bin, the
  key included, when a log starts on arming).
So that a vehicle with the defect fails every run, the check arms the vehicle once while the key
is set (where the driver may fly it) before it looks. It runs last in the suite (see
conftest.py) so that it sees the other checks' artefacts; the run's JUnit file and summary are
written after every check, so tests/test_signing.py greps those after a whole run."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from drivers.errors import WaitTimeout
from drivers.link.connection import Link
from drivers.link.keys import SigningKey
from drivers.services.signing import SigningSession
from drivers.services.vehicle import Vehicle
from reports.paths import safe_name, shown

READY_S = 60.0  # vehicle seconds a fresh vehicle may take to pass its pre-arm checks


def scan(folder: Path, key: SigningKey) -> tuple[int, dict[str, list[str]]]:
    """(files read, {file relative to folder: the key's forms found in it})."""
    read, found = 0, {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # removed meanwhile (another worker's temporary file)
        read += 1
        if forms := key.found_in(data):
            found[path.relative_to(folder).as_posix()] = forms
    return read, found


def file_kind(rel: str) -> str:
    """A file as every run names it: numbers (log indices, restarts) and a folder's restart
    suffix (`ardupilot-work-2`) left out."""
    return re.sub(r"-#(?=/)", "", re.sub(r"\d+", "#", rel))


def arm_once(vehicle: Vehicle, armed_s: float) -> list[str]:
    """Arm on the ground for `armed_s` vehicle seconds and disarm: a vehicle logs while armed
    (ArduPilot streams its @SYS files, storage.bin with the key, into the log a block at a
    time). Auto-disarm is held off meanwhile and put back; returns what could not be."""
    vehicle.wait_armable(READY_S)
    with contextlib.suppress(WaitTimeout):  # a vehicle without DISARM_DELAY does not auto-disarm
        vehicle.set_param("DISARM_DELAY", 0)
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    vehicle.link.collect(["HEARTBEAT"], armed_s)
    vehicle.disarm()
    return vehicle.restore_params()


@pytest.mark.requirement("MAV-SIGN-KEY-SECRET", "GB42590-4.11")
def test_key_is_not_in_the_run_artefacts(
    request, vehicle_driver, profile, policy, signing_key, run_dir, vehicle_files, measure,
    findings,
):  # fmt: skip
    # given a signing session of this check's own on a recorded link, with the vehicle armed
    # once while its key is set, then closed again (so the .tlog that carried the key is on disk)
    may_fly = "flight" in vehicle_driver.capabilities
    if may_fly and "restart" in vehicle_driver.capabilities:
        # a fresh vehicle: whether it can arm must not hang on what earlier checks left (on
        # ArduPilot, a GCS failsafe still set once FS_GCS_ENABLE was put back to 0)
        vehicle_driver.restart()
    if policy.install:
        tlog = run_dir / "tlogs" / f"{safe_name(request.node.nodeid)}.tlog"
        gcs = profile.link["gcs"]
        with Link(
            vehicle_driver.ensure_running(),
            vehicle_sysid=vehicle_driver.sysid,
            gcs_sysid=gcs["sysid"],
            gcs_compid=gcs["compid"],
            tlog=tlog,
            silence_s=profile.link["silence_s"],
            liveness=vehicle_driver.liveness,
        ) as link:
            vehicle = Vehicle(link, sysid=vehicle_driver.sysid, arming_allowed=may_fly)
            vehicle.connect()
            session = SigningSession(
                vehicle, signing_key, unsigned_allowed=policy.unsigned_allowed_ids
            )
            session.start()
            try:
                left = arm_once(vehicle, profile.vehicle["log_after_arming_s"]) if may_fly else []
            finally:
                problem = session.stop()
        request.node.user_properties.append(("tlog", shown(tlog)))
        assert problem is None, problem
        assert not left, "isolation: " + "; ".join(left)
    measure.record_value("armed once with the key set", int(policy.install and may_fly), "")
    # when every file of the run and every file of the vehicles is searched for every form
    read_run, in_run = scan(run_dir, signing_key)
    read_vehicle, in_vehicle = scan(vehicle_files, signing_key)
    # then the key is in none of them
    for rel, forms in in_vehicle.items():
        below_worker = rel.partition("/")[2] or rel  # gw0/, master/: how the run was split
        findings.add("key-in-vehicle-files", file_kind(below_worker),
                     f"the vehicle's own file {rel} holds the key ({', '.join(forms)})",
                     origin="vehicle", file=shown(vehicle_files / rel))  # fmt: skip
    for rel, forms in in_run.items():
        findings.add("key-in-harness-artefact", file_kind(rel),
                     f"skyproof's artefact {rel} holds the key ({', '.join(forms)})",
                     origin="harness", file=shown(run_dir / rel))  # fmt: skip
    measure.record_value("run artefacts searched", read_run, "files")
    measure.record_value("vehicle files searched", read_vehicle, "files")
    leaks = [f"{rel} ({', '.join(forms)})" for rel, forms in {**in_run, **in_vehicle}.items()]
    m = measure.at_most("files holding the key", len(leaks), "files", 0)
    assert m.ok, "the signing key is in: " + "; ".join(leaks)
