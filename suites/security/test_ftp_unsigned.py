"""An unsigned peer gets nothing from the file side where signing is required: it cannot read
the signing key over MAVLink FTP (MAV-SIGN-FTP-KEY; ArduPilot keeps the key in
@SYS/storage.bin), and SERIAL_CONTROL gives it no shell (ROB-SERIAL-CONTROL; PX4
CVE-2026-1579). Both run on the first channel the profile says must require signing. A second
station holding the key first shows the request works signed there (the key file opens; the
shell's answer is recorded, as a vehicle may have no shell at all); then the same requests go
unsigned from the same identity. The key file is only opened signed, never read: its bytes
would be in the run's recordings (the key must never be in an artefact)."""

from __future__ import annotations

import pytest

from drivers.mavlink import mavlink
from drivers.services.ftp import DATA_MAX, FtpClient, OP_OpenFileRO, OP_ReadFile

SHELL = mavlink.SERIAL_CONTROL_DEV_SHELL
ASK = mavlink.SERIAL_CONTROL_FLAG_RESPOND | mavlink.SERIAL_CONTROL_FLAG_EXCLUSIVE


def clients(peer, vehicle, ftp_settings) -> tuple[FtpClient, FtpClient]:
    """(signed, unsigned) FTP clients of the same identity on the peer's connection."""
    me = (peer.link.mav.srcSystem, peer.link.mav.srcComponent)
    signed = FtpClient(peer.link, vehicle.sysid, timeout_s=ftp_settings["reply_s"], me=me)

    def unsigned_send(msg) -> None:
        peer.send(peer.builder.frame(msg))  # no signature

    unsigned = FtpClient(peer.link, vehicle.sysid, timeout_s=ftp_settings["reply_s"],
                         send=unsigned_send, me=me)
    unsigned.seq = 1000  # its own sequence numbers: a reply cannot be mistaken for the other's
    return signed, unsigned


@pytest.mark.requirement("MAV-SIGN-FTP-KEY", "MAV-SIGN-UNSIGNED", "GB42590-4.11")
def test_key_file_is_not_read_unsigned(
    required_channel, signing, required_peer, vehicle, ftp_settings, measure
):
    # given signing on, and the key file opening for a station holding the key (opened only:
    # its bytes, key included, would land in the run's recordings)
    peer = required_peer
    signed, unsigned = clients(peer, vehicle, ftp_settings)
    signed.reset()
    target = ftp_settings["key_file"]
    opened = signed.open_ro(target)
    if not opened.ok:
        pytest.skip(f"the vehicle has no {target!r} (signed OpenFileRO: {opened})")
    signed.terminate(opened.session)
    # when a station without a signature opens it on the same channel and reads its start
    got = b""
    reply = unsigned.ask(OP_OpenFileRO, data=target.encode())
    if reply is not None and reply.ok:
        part = unsigned.ask(OP_ReadFile, session=reply.session, offset=0, size=DATA_MAX)
        got = part.data if part is not None and part.ok else b""
        signed.terminate(reply.session)
    # then nothing is opened and no byte of it comes back
    opened_unsigned = bool(reply is not None and reply.ok)
    measure.record_value("unsigned open acknowledged", int(opened_unsigned), "")
    m = measure.at_most("bytes of the key file read unsigned", len(got), "bytes", 0)
    assert m.ok and not opened_unsigned, (
        f"channel {required_channel}: an unsigned OpenFileRO {target!r} was answered {reply}; "
        f"{len(got)} bytes of it read unsigned")


@pytest.mark.requirement("ROB-SERIAL-CONTROL", "MAV-SIGN-UNSIGNED", "GB42590-4.11")
def test_serial_control_gives_no_unsigned_shell(
    required_channel, signing, required_peer, vehicle, ftp_settings, measure
):
    # given signing on, and a station on a channel that must require it
    peer = required_peer
    command = ftp_settings["shell_command"].encode() + b"\n"

    def request(data: bytes, flags: int = ASK):
        return mavlink.MAVLink_serial_control_message(
            SHELL, flags, 0, 0, len(data), list(data.ljust(70, b"\0")))

    def replies(frame: bytes) -> list:
        with peer.watch(["SERIAL_CONTROL"]) as got:
            peer.send(frame)
            peer.link.elapse(ftp_settings["shell_s"])
        return [m for m in got if m.get_srcSystem() == vehicle.sysid]

    # the signed request's answer is recorded: a vehicle may have no shell at all
    signed = replies(peer.builder.frame(request(command), peer.signature()))
    measure.record_value("shell answers to a signed request", len(signed), "")
    peer.send(peer.builder.frame(request(b"", 0), peer.signature()))  # let the shell go
    # when the same request goes unsigned
    unsigned = replies(peer.builder.frame(request(command)))
    if unsigned:
        peer.send(peer.builder.frame(request(b"", 0), peer.signature()))
    # then no shell answers
    text = b"".join(bytes(m.data[:m.count]) for m in unsigned).decode("ascii", "replace")
    m = measure.at_most("SERIAL_CONTROL answers to an unsigned peer", len(unsigned), "", 0)
    assert m.ok, (f"channel {required_channel}: an unsigned SERIAL_CONTROL shell request was "
                  f"answered {len(unsigned)} times within {ftp_settings['shell_s']:g} s: {text!r}")
