"""A resent FTP request gets the same reply and nothing more (ROB-FTP-RESEND; PX4 #28347: a
request resent with the same sequence number was answered from the reply cache with heap
bytes beyond the cached reply). A file of known bytes is created and read whole (so the
vehicle's reply buffer is full of them), then a short ReadFile is sent twice with the same
sequence number: both replies must be equal, and no reply may carry a non-zero byte past the
size it states."""

from __future__ import annotations

import secrets

import pytest

from drivers.services.ftp import FtpClient, OP_ReadFile


@pytest.mark.requirement("ROB-FTP-RESEND", "GB42590-4.11")
def test_resent_request_gets_the_same_reply(ftp: FtpClient, ftp_settings, measure):
    # given a file of known non-zero bytes, opened and read whole once
    name = f"skyproof-resend-{secrets.token_hex(3)}.bin"
    content = bytes((b % 255) + 1 for b in secrets.token_bytes(600))
    created = ftp.write(name, content)
    assert created.ok, f"precondition: CreateFile {name!r} answered {created}"
    try:
        opened = ftp.open_ro(name)
        assert opened.ok, f"precondition: OpenFileRO {name!r} answered {opened}"
        whole = ftp.read_session(opened.session, len(content))
        assert whole == content, f"precondition: read back {len(whole)} of {len(content)} bytes"
        # when a short read is sent, then resent with the same sequence number
        size = ftp_settings["resend_read_bytes"]
        payload = ftp.build(OP_ReadFile, session=opened.session, offset=0, size=size)
        first = ftp.ask_raw(payload)
        again = ftp.ask_raw(payload)
        ftp.terminate(opened.session)
    finally:
        ftp.remove(name)
    wait = ftp_settings["reply_s"]
    assert first is not None, f"no reply to ReadFile (size {size}) within {wait:g} s"
    assert again is not None, f"no reply to the resent ReadFile within {wait:g} s"
    # then both replies are the same, and neither carries bytes past its stated size
    problems = []
    if (again.opcode, again.size, again.data) != (first.opcode, first.size, first.data):
        problems.append(f"the resent reply differs: {first} then {again}")
    end = 12 + first.size  # where the first reply's data ends in the payload
    leaked = max(sum(1 for b in first.beyond if b), sum(1 for b in again.payload[end:] if b))
    if leaked:
        problems.append(f"{leaked} non-zero bytes past the first reply's {first.size}-byte data")
    m = measure.at_most("bytes past the first reply's data", leaked, "bytes", 0)
    measure.record_value("resent reply differs", int(bool(problems and not leaked)), "")
    assert m.ok and not problems, "; ".join(problems)
