"""The simulator's MAVLink FTP server and log service, through skyproof's FTP and log clients
(no pytest profile, no suite): the root resolves `..` and refuses what leaves it, @SYS is
read-only, a resent request is answered from the cache, sessions are bounded, logs list and
read back. And the FTP strategies draw only frames pymavlink parses, never naming for a write
anything but the fuzzer's own names, the canary or a protected file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings

os.environ.setdefault("MAVLINK20", "1")

from drivers.attack.ftp_strategies import FtpTarget, ftp_batches, ftp_corpus
from drivers.link.connection import Link
from drivers.mavlink import mavlink
from drivers.services.ftp import FtpClient, OP_ReadFile
from drivers.services.logs import list_logs, read_log

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[Link, Path]]:
    """A simulator with its files folder in tmp_path, and a link to it."""
    argv = [sys.executable, "-u", "-m", "sim", "--listen", "tcp:127.0.0.1:0", "--speedup", "20",
            "--files-dir", str(tmp_path / "files")]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = re.search(r"listening on (\S+)", proc.stdout.readline()).group(1)
        link = Link(url, vehicle_sysid=1)
        try:
            link.wait("a HEARTBEAT", ["HEARTBEAT"], timeout_s=10)
            link.send(link.mav.request_data_stream_encode(1, 1, 0, 4, 1))  # a clock to wait on
            yield link, tmp_path / "files" / "ftp"
        finally:
            link.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_root_holds_and_sys_is_read_only(sim):
    link, root = sim
    ftp = FtpClient(link, 1)
    (root.parent / "outside.txt").write_text("outside")
    assert ftp.write("inside.txt", b"x" * 500).ok
    assert (root / "inside.txt").read_bytes() == b"x" * 500
    data, opened = ftp.read("/inside.txt")
    assert opened.ok and data == b"x" * 500
    for path in ("../outside.txt", "/../outside.txt", "logs/../../outside.txt"):
        assert ftp.read(path)[1].error == "FileNotFound", path
    assert ftp.read("logs/../inside.txt")[0] == b"x" * 500  # `..` inside the root is fine
    assert ftp.rename("inside.txt", "@SYS/storage.bin").error == "FileProtected"
    assert ftp.truncate("@SYS/storage.bin", 0).error == "FileProtected"
    assert ftp.remove("@SYS/storage.bin").error == "FileProtected"
    key_file, _ = ftp.read("@SYS/storage.bin")
    assert key_file is not None and len(key_file) == 16384


def test_resent_request_is_answered_alike(sim):
    link, _ = sim
    ftp = FtpClient(link, 1)
    assert ftp.write("r.bin", bytes(range(1, 250)) * 2).ok
    opened = ftp.open_ro("r.bin")
    payload = ftp.build(OP_ReadFile, session=opened.session, offset=0, size=10)
    first, again = ftp.ask_raw(payload), ftp.ask_raw(payload)
    assert first is not None and again is not None
    assert first.payload == again.payload and first.size == 10 and not any(first.beyond)


def test_logs_list_and_read(sim):
    link, root = sim
    logs = list_logs(link, 1, 3.0)
    assert [e.id for e in logs] == [1, 2]
    assert read_log(link, 1, 2, 1000, 3.0, ofs=100) == (root / "logs/00000002.BIN").read_bytes()[
        100:1100]


T = FtpTarget(1, 1, "skyproof-fuzz", "logs", "skyproof-canary-x.txt", ("@SYS/storage.bin",))
WRITES = {6, 8, 9, 10, 11, 12, 13}  # opcodes that change what their path names


@settings(max_examples=60, deadline=None)
@given(batch=ftp_batches(T, 4))
def test_strategies_draw_parseable_frames_that_spare_the_vehicles_files(batch):
    for case in batch:
        mav = mavlink.MAVLink(None)
        msg = mav.parse_char(case.frame)
        assert msg is not None and msg.get_type() == "FILE_TRANSFER_PROTOCOL", case
        ftp = bytes(msg.payload)
        if ftp[3] in WRITES:  # a path is named: one the fuzzer may hurt
            path = ftp[12:].split(b"\0", 1)[0]
            assert (path.startswith((b"skyproof-fuzz/", b"logs/skyproof-fz", b"@SYS/"))
                    or b"skyproof-canary-x.txt" in path or len(path) >= 200), path


def test_corpus_is_the_published_defects():
    text = [c.what for batch in ftp_corpus(T) for c in batch]
    assert any("escape path" in t for t in text) and any("long log name" in t for t in text)
    assert any(t.startswith("resent:") for t in text)
    assert any("after a list" in t for t in text)
