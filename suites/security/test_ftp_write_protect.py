"""Write protection holds in every order of operations (ROB-FTP-WRITE-PROTECT; PX4 #28349: Open
+ List + Write wrote a protected file). Each protected file the profile names (ArduPilot's
@SYS/storage.bin) is attacked one way per parametrization: OpenFileWO + WriteFile, CreateFile,
TruncateFile, RemoveFile, Rename of a file of ours onto it, and OpenFileRO + ListDirectory +
WriteFile on the read-only session. Judged by effect, read back over FTP: the file is still
there, its size unchanged, and none of the bytes the attack wrote are in it (a live file such
as storage.bin may change by itself, so its content is not compared whole). The files are read
over the harness's recorded link, so the check runs only while the key is off the vehicle (the
signing checks take it off after each one); with signing.install false the vehicle keeps its
key in storage.bin and the check skips rather than record it."""

from __future__ import annotations

import secrets

import pytest

from drivers.services.ftp import (
    FtpClient,
    OP_CreateFile,
    OP_ListDirectory,
    OP_OpenFileRO,
    OP_OpenFileWO,
    OP_RemoveFile,
    OP_WriteFile,
)

MARK = b"SKYPROOF-WRITE-PROTECTION-PROBE"


def attack(ftp: FtpClient, order: str, target: str, mark: bytes) -> list[str]:
    """Run one order of operations on `target`; the replies, for the failure message."""
    said = []
    if order == "open_write":
        opened = ftp.request(OP_OpenFileWO, data=target.encode())
        said.append(str(opened))
        if opened.ok:
            said.append(str(ftp.request(OP_WriteFile, session=opened.session, data=mark)))
            ftp.terminate(opened.session)
    elif order == "create":
        opened = ftp.request(OP_CreateFile, data=target.encode())
        said.append(str(opened))
        if opened.ok:
            said.append(str(ftp.request(OP_WriteFile, session=opened.session, data=mark)))
            ftp.terminate(opened.session)
    elif order == "truncate":
        said.append(str(ftp.truncate(target, 1)))
    elif order == "remove":
        said.append(str(ftp.remove(target)))
    elif order == "rename_onto":
        ours = f"skyproof-rename-{secrets.token_hex(3)}.bin"
        said.append(str(ftp.write(ours, mark)))
        said.append(str(ftp.rename(ours, target)))
        ftp.ask(OP_RemoveFile, data=ours.encode())  # if it is still ours
    elif order == "open_list_write":
        opened = ftp.request(OP_OpenFileRO, data=target.encode())
        said.append(str(opened))
        if opened.ok:
            folder = target.rsplit("/", 1)[0] if "/" in target else "/"
            for path in (folder, "/"):
                said.append(str(ftp.request(OP_ListDirectory, data=path.encode())))
            said.append(str(ftp.request(OP_WriteFile, session=opened.session, data=mark)))
            ftp.terminate(opened.session)
    return said


@pytest.mark.requirement("ROB-FTP-WRITE-PROTECT", "GB42590-4.11")
@pytest.mark.parametrize(
    "order", ["open_write", "create", "truncate", "remove", "rename_onto", "open_list_write"])
def test_write_protection_holds(order, ftp: FtpClient, ftp_settings, policy, measure):
    if not policy.install:
        pytest.skip("signing.install is false: the vehicle's key would be read into the tlog")
    if not ftp_settings["protected"]:
        pytest.skip("the profile names no write-protected file (security.ftp.protected: [])")
    mark = MARK + secrets.token_hex(4).encode()  # this check's own: earlier damage is not ours
    changed = []
    for target in ftp_settings["protected"]:
        # given a protected file that reads
        before, opened = ftp.read(target)
        if before is None:
            pytest.skip(f"the vehicle has no {target!r} to protect ({opened})")
        # when it is attacked in this order
        said = attack(ftp, order, target, mark)
        # then it is still there, the same size, without what the attack wrote
        after, opened = ftp.read(target)
        if after is None:
            changed.append(f"{target} is gone ({opened}) after {'; '.join(said)}")
        else:
            what = []
            if len(after) != len(before):
                what.append(f"is {len(after)} bytes, was {len(before)}")
            if mark in after and mark not in before:
                what.append("holds the attack's bytes")
            if what:
                changed.append(f"{target} {' and '.join(what)} after {'; '.join(said)}")
    m = measure.at_most("protected files changed", len(changed), "", 0)
    assert m.ok, f"write protection broken by {order}: " + " | ".join(changed)
