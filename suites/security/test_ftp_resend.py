"""A resent FTP request gets the same reply and nothing more (ROB-FTP-RESEND; PX4 #28347: a
request resent with the same sequence number was answered from the reply cache with heap
bytes beyond the cached reply). A file of known bytes is created and read whole (so the
vehicle's reply buffer is full of them), then a short ReadFile is sent twice with the same
sequence number: both replies must be equal, and no reply may carry a non-zero byte past the
size it states. The same again for a read the vehicle refuses (its session closed): PX4 SITL
main bb59c637cd answers a resent refused request with its cached NAK and, past it, bytes of its
memory (a pointer among them), while it answers a resent read correctly."""

from __future__ import annotations

import secrets

import pytest

from drivers.services.ftp import FtpClient, FtpReply, OP_ReadFile


@pytest.mark.requirement("ROB-FTP-RESEND", "GB42590-4.11")
def compare(what: str, first: FtpReply | None, again: FtpReply | None,
            wait: float) -> tuple[int, list[str]]:
    """(non-zero bytes past the first reply's data, problems) of one request sent twice."""
    if first is None or again is None:
        said = "its resend" if first is not None else "it"
        return 0, [f"{what}: no reply to {said} within {wait:g} s"]
    problems = []
    if (again.opcode, again.size, again.data) != (first.opcode, first.size, first.data):
        problems.append(f"{what}: the resent reply differs: {first} then {again}")
    end = 12 + first.size  # where the first reply's data ends in the payload
    leaked = max(sum(1 for b in first.beyond if b), sum(1 for b in again.payload[end:] if b))
    if leaked:
        problems.append(f"{what}: {leaked} non-zero bytes past the first reply's "
                        f"{first.size}-byte data ({first.error})")
    return leaked, problems


@pytest.mark.requirement("ROB-FTP-RESEND", "GB42590-4.11")
def test_resent_request_gets_the_same_reply(ftp: FtpClient, ftp_settings, measure):
    # given a file of known non-zero bytes, opened and read whole once
    name = f"skyproof-resend-{secrets.token_hex(3)}.bin"
    content = bytes((b % 255) + 1 for b in secrets.token_bytes(600))
    created = ftp.write(name, content)
    assert created.ok, f"precondition: CreateFile {name!r} answered {created}"
    size = ftp_settings["resend_read_bytes"]
    try:
        opened = ftp.open_ro(name)
        assert opened.ok, f"precondition: OpenFileRO {name!r} answered {opened}"
        whole = ftp.read_session(opened.session, len(content))
        assert whole == content, f"precondition: read back {len(whole)} of {len(content)} bytes"
        # when a short read is sent, then resent with the same sequence number; and the same
        # for a read the vehicle refuses (its session closed)
        payload = ftp.build(OP_ReadFile, session=opened.session, offset=0, size=size)
        pairs = {"a short ReadFile": (ftp.ask_raw(payload), ftp.ask_raw(payload))}
        ftp.terminate(opened.session)
        refused = ftp.build(OP_ReadFile, session=opened.session, offset=0, size=size)
        pairs["a ReadFile of a closed session"] = (ftp.ask_raw(refused), ftp.ask_raw(refused))
    finally:
        ftp.remove(name)
    # then both replies are the same, and neither carries bytes past its stated size
    leaked, problems = 0, []
    for what, (first, again) in pairs.items():
        n, said = compare(what, first, again, ftp_settings["reply_s"])
        leaked, problems = max(leaked, n), problems + said
    m = measure.at_most("bytes past the first reply's data", leaked, "bytes", 0)
    measure.record_value("resent requests answered differently", len(problems), "")
    assert m.ok and not problems, "; ".join(problems)
