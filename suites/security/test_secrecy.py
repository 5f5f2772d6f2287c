"""The key stays secret on the harness's side too (MAV-SIGN-KEY-SECRET): no form of it (raw,
hex, base64, half of it, the passphrase) is in any artefact of the run: tlogs (SETUP_SIGNING is
recorded redacted), Allure results, plots, reproducers, the vehicles' logs. It runs last in the
suite (see conftest.py) so that it sees the other checks' artefacts; the run's JUnit file and
summary are written after every check, so tests/test_signing.py greps those after a whole run."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.link import Link
from drivers.signing import SigningKey, SigningSession
from drivers.vehicle import Vehicle
from suites.security.records import relative, safe_name


def scan(folder: Path, key: SigningKey) -> tuple[int, list[str]]:
    """(files read, where a form of the key was found)."""
    read, found = 0, []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # removed meanwhile (another worker's temporary file)
        read += 1
        if forms := key.found_in(data):
            rel = path.relative_to(folder)
            whose = ", the vehicle's own file" if rel.parts[0] == "vehicles" else ""
            found.append(f"{rel} ({', '.join(forms)}{whose})")
    return read, found


@pytest.mark.requirement("MAV-SIGN-KEY-SECRET", "GB42590-4.11")
def test_key_is_not_in_the_run_artefacts(
    request, vehicle_driver, profile, policy, signing_key, run_dir, measure
):
    # given a signing session of this check's own on a recorded link, closed again (so its
    # .tlog, with the SETUP_SIGNING that carried the key, is complete on disk)
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
            vehicle = Vehicle(link, sysid=vehicle_driver.sysid)
            vehicle.connect()
            session = SigningSession(
                vehicle, signing_key, unsigned_allowed=policy.unsigned_allowed_ids
            )
            session.start()
            problem = session.stop()
        request.node.user_properties.append(("tlog", relative(tlog)))
        assert problem is None, problem
    # when every file of the run so far is searched for the key in every form
    read, found = scan(run_dir, signing_key)
    # then it is in none of them
    measure.record_value("artefacts searched", read, "files")
    m = measure.at_most("artefacts holding the key", len(found), "files", 0)
    assert m.ok, "the signing key is in: " + "; ".join(found)
