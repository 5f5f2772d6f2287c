"""Long names crash nothing (ROB-FTP-PATH; PX4 CVE-2026-32743: a log file name over 60 bytes,
created over MAVLink FTP, overran the log handler's buffer on the next LOG_REQUEST_LIST).
Files with long names, and a path that fills the whole FTP payload with no terminator, are
created in the vehicle's log folder; then the log service must still list the logs it listed
before and return the same bytes of the first one (judged by effect: a vehicle that died or
whose log service broke fails). Whether each long name was accepted is recorded, not judged:
MAVLink FTP states no length limit below its payload."""

from __future__ import annotations

import contextlib

import pytest

from drivers.errors import VehicleLost, VehicleSilent, WaitTimeout
from drivers.services import flavour
from drivers.services.ftp import DATA_MAX, FtpClient, OP_CreateFile, OP_RemoveFile
from drivers.services.logs import list_logs, read_log


def wait_for_logs(vehicle, ftp_settings):
    """The vehicle's logs, once it lists at least one (asked once a vehicle second)."""
    deadline = vehicle.link.clock.now() + ftp_settings["log_wait_s"]
    while True:
        logs = list_logs(vehicle.link, vehicle.sysid, ftp_settings["reply_s"])
        if logs or vehicle.link.clock.now() >= deadline:
            return logs
        vehicle.link.elapse(1.0)


def settled_logs(vehicle, ftp_settings):
    """The vehicle's logs once two listings a vehicle second apart name the same logs (sizes
    aside: a log being written grows), within log_wait_s. A vehicle may start a new log when a
    download ends (ArduPilot does with LOG_DISARMED, and only then reads its log folder again):
    judged on its first listing, the verdict would turn on that race."""
    deadline = vehicle.link.clock.now() + ftp_settings["log_wait_s"]
    logs = list_logs(vehicle.link, vehicle.sysid, ftp_settings["reply_s"])
    while vehicle.link.clock.now() < deadline:
        vehicle.link.elapse(1.0)
        again = list_logs(vehicle.link, vehicle.sysid, ftp_settings["reply_s"])
        if [(e.id, e.num_logs) for e in again] == [(e.id, e.num_logs) for e in logs]:
            return again
        logs = again
    return logs


def long_names(ftp_settings) -> list[str]:
    folder = ftp_settings["log_folder"].rstrip("/")
    names = []
    for n in ftp_settings["long_name_bytes"]:
        stem = "skyproof-long-"
        names.append(f"{folder}/{stem}{'x' * max(0, n - len(stem) - 4)}.BIN")
    return names


@pytest.mark.requirement("ROB-FTP-PATH", "GB42590-4.11")
def test_long_names_crash_nothing(
    vehicle, vehicle_driver, ftp: FtpClient, ftp_settings, measure, findings
):
    # given a vehicle whose log service lists logs and returns a log's first bytes
    log_params = flavour.log_on_ground_params(vehicle.autopilot)
    for name, value in log_params.items():
        vehicle.set_param(name, value)  # journaled: the vehicle fixture restores it
    before = wait_for_logs(vehicle, ftp_settings)
    if not before:
        wait = ftp_settings["log_wait_s"]
        pytest.fail(f"precondition: the vehicle listed no log within {wait:g} s "
                    f"(set to log on the ground: {log_params or 'nothing'})", pytrace=False)
    first = before[0].id
    count = min(ftp_settings["log_read_bytes"], before[0].size)
    # read twice: a vehicle may still be writing the log when it first lists it (ArduPilot
    # closes the log it writes once a download starts); the second read is the reference
    read_log(vehicle.link, vehicle.sysid, first, count, ftp_settings["reply_s"])
    data_before = read_log(vehicle.link, vehicle.sysid, first, count, ftp_settings["reply_s"])
    # when files with long names are created in the log folder, and a path with no terminator
    # fills the whole payload
    accepted, created = [], []
    for path in long_names(ftp_settings):
        reply = ftp.write(path, b"skyproof long name")
        if reply.ok:
            accepted.append(f"{len(path.rsplit('/', 1)[-1])}-byte name")
            created.append(path)
    overfull = (ftp_settings["log_folder"].rstrip("/") + "/skyproof-full-").encode()
    overfull = overfull.ljust(DATA_MAX, b"z")
    reply = ftp.ask_raw(ftp.build(OP_CreateFile, data=overfull, size=DATA_MAX))
    if reply is not None and reply.ok:
        accepted.append("unterminated 239-byte path")
        ftp.ask(OP_RemoveFile, data=overfull[:DATA_MAX - 1])  # as a vehicle terminates it
        ftp.terminate(reply.session)
    measure.record_value("long names accepted", len(accepted), "")
    # then the log service still lists the same logs and returns the same bytes
    problems = []
    try:
        after = settled_logs(vehicle, ftp_settings)
        listed = {e.id: e for e in after}
        if first not in listed:
            problems.append(("log-unlisted", f"log {first} no longer listed (listed: "
                             f"{[e.id for e in after]})"))
        data_after = read_log(vehicle.link, vehicle.sysid, first, count, ftp_settings["reply_s"])
        if data_after != data_before:
            # what the vehicle now says of the log, so that a log it lost is told from one that
            # changed (ArduPilot: a *.BIN name not starting with a digit is taken as log 0)
            now = f"listed with size {listed[first].size}" if first in listed else "not listed"
            problems.append(("log-changed", f"log {first}'s first {count} bytes differ after the "
                             f"long names: {len(data_after)} bytes returned, {now} (listed before "
                             f"with size {before[0].size})"))
    except (VehicleLost, VehicleSilent, WaitTimeout) as exc:
        problems.append(("log-service-silent", f"the log service did not answer after the long "
                         f"names ({', '.join(accepted) or 'none accepted'}): {exc}"))
    finally:
        tidy(vehicle_driver, ftp, created)
    for kind, text in problems:
        findings.add(kind, "", text)
    m = measure.at_most("log-service failures after long names", len(problems), "", 0)
    assert m.ok, "; ".join(text for _, text in problems)


def tidy(vehicle_driver, ftp: FtpClient, created: list[str]) -> None:
    """Remove the long names (over FTP, or on the host where the vehicle died): left behind
    they would take the next LOG_REQUEST_LIST down too."""
    if vehicle_driver.liveness() is None:
        for path in created:
            with contextlib.suppress(VehicleLost, VehicleSilent, WaitTimeout):
                ftp.remove(path)
    root = getattr(vehicle_driver, "ftp_root", None)
    if root is not None:
        for p in root.rglob("skyproof-*"):
            if p.is_file() and ("skyproof-long-" in p.name or "skyproof-full-" in p.name):
                p.unlink()
