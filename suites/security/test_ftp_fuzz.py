"""Fuzzed MAVLink FTP requests change nothing (ROB-FTP-PATH, ROB-FTP-ROOT, ROB-FTP-RESEND,
ROB-FTP-WRITE-PROTECT): the published FTP defects are sent first as a fixed corpus (a vehicle
with one fails every run), then hypothesis draws batches of hostile FILE_TRANSFER_PROTOCOL
requests (drivers/attack/ftp_strategies.py: opcode, session, size, offset, path bytes,
sequence numbers and resends) within the profile's budget. The fuzzer's own connection
(drivers/attack/fuzz_target.py) judges what every fuzz batch must leave alone: the vehicle
alive and heartbeating, its mode, arming and place. On top of that, after each batch: FTP
still answers and the log service still lists its logs; no reply carried a non-zero byte past
the size it states; the canary outside the FTP root (where the driver says where the root is)
is untouched and nothing new appeared beside it; a protected file a batch named has the same
size and CRC-32. Each defect is a finding with its shrunk batch saved as a replayable reproducer
(`python -m drivers.attack.frames replay FILE tcp:127.0.0.1:PORT`)."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import struct
from itertools import pairwise
from pathlib import Path

import pytest

from drivers.attack.frames import FrameBuilder
from drivers.attack.ftp_strategies import FtpTarget, ftp_batches, ftp_corpus
from drivers.attack.fuzz_target import FuzzTarget, Problem
from drivers.attack.strategies import Case
from drivers.errors import DriverError, VehicleError, WaitTimeout
from drivers.services.ftp import (
    FtpClient,
    FtpReply,
    OP_CreateDirectory,
    OP_OpenFileRO,
    OP_ResetSessions,
)
from drivers.services.logs import list_logs
from reports.paths import safe_name, shown
from suites.security.fuzz_search import Search

# A defect of these kinds is one defect whatever batch shows it (its finding's subject), and
# once found, batches with requests of its tag are not drawn again.
CLASSES = {"outside-root": "escape", "protected-changed": "protected", "reply-leak": "resent"}


def tags_of(case: Case, protected: tuple[str, ...]) -> set[str]:
    tags = {"escape"} if "escape path" in case.what else set()
    if case.what.startswith("resent"):
        tags.add("resent")
    if "protected path" in case.what or any(p in case.what for p in protected):
        tags.add("protected")
    return tags


def resent_keys(batch: list[Case]) -> set[tuple[int, int]]:
    """(reply sequence number, request opcode) of each request the batch resends: sends twice in
    a row. MAVLink FTP has one request in flight, so a server recognises a resend only as a
    repeat of the request it answered last (PX4 mavlink_ftp.cpp compares with its last reply);
    the same frame after another request is a new request with an old sequence number, and may
    rightly be answered differently (a second OpenFileWO: no session left). Read from the frame:
    FILE_TRANSFER_PROTOCOL's FTP payload starts after the 10-byte header and three target bytes
    (sequence number, session, opcode)."""
    frames = [c.frame for c in batch]
    keys = set()
    for f in {f for prev, f in pairwise(frames) if f == prev}:
        ftp = f[13:].ljust(4, b"\0")
        keys.add(((int.from_bytes(ftp[:2], "little") + 1) & 0xFFFF, ftp[3]))
    return keys


class FtpJudge:
    """What an FTP batch must leave alone, beyond what FuzzTarget judges."""

    def __init__(self, fuzzer: FuzzTarget, t: FtpTarget, root: Path | None, canary: Path | None,
                 reply_s: float) -> None:
        self.fuzzer, self.t, self.root, self.canary = fuzzer, t, root, canary
        self.content = canary.read_bytes() if canary else b""
        self.reply_s = reply_s

    def client(self) -> FtpClient:
        """An FTP client with the fuzzer's own identity, so it can reset the fuzzer's sessions
        (ArduPilot serves one sender's session at a time)."""
        link = self.fuzzer.connected()
        builder = FrameBuilder(*self.t.sender)
        return FtpClient(link, self.t.sysid, self.t.compid, timeout_s=self.reply_s,
                         send=lambda m: link.send_raw(builder.frame(m)), me=self.t.sender)

    def outside(self) -> set[str]:
        return {p.name for p in self.root.parent.iterdir()} if self.root else set()

    def fingerprint(self, ftp: FtpClient, path: str) -> str:
        opened = ftp.ask(OP_OpenFileRO, data=path.encode())
        size = struct.unpack("<I", opened.data[:4])[0] if opened and opened.ok else None
        if opened is not None and opened.ok:
            ftp.terminate(opened.session)
        try:
            crc = ftp.crc32(path)
        except WaitTimeout:
            return f"size {size}, CRC-32 not answered"
        return f"size {size}, CRC-32 {crc.data.hex() if crc.ok else crc.error}"

    def tidy(self) -> None:
        """Put back what earlier batches made in the log folder (on the host, where the driver
        says where the root is): a long name left there would take every later batch down."""
        if self.root is not None:
            for p in (self.root / self.t.log_folder).glob("skyproof-fz*"):
                p.unlink(missing_ok=True)

    def run(self, batch: list[Case]) -> Problem | None:
        self.tidy()
        ftp = self.client()
        ftp.ask(OP_ResetSessions)  # each batch starts with no session open
        named = [p for p in self.t.protected if any(p in c.what for c in batch)]
        before = {p: self.fingerprint(ftp, p) for p in named}
        beside = self.outside()
        with ftp.link.subscribe(["FILE_TRANSFER_PROTOCOL"]) as sub:
            problem = self.fuzzer.run(batch)
            replies = []
            while (item := sub.get(0)) is not None:
                m = item.msg
                if (m.target_system, m.target_component) == self.t.sender:
                    replies.append(FtpReply.parse(bytes(m.payload)))
        if problem is not None:
            return problem
        return self.judge(replies, resent_keys(batch), before, beside)

    def judge(self, replies: list[FtpReply], resent: set[tuple[int, int]],
              before: dict[str, str], beside: set[str]) -> Problem | None:
        leaks = [f"{r} carried {sum(1 for b in r.beyond if b)} bytes past it"
                 for r in replies if any(r.beyond)]
        seen: dict[tuple[int, int], FtpReply] = {}
        for r in replies:  # a resent request is answered again: the same reply, byte for byte
            if (r.seq, r.req_opcode) not in resent:
                continue
            first = seen.setdefault((r.seq, r.req_opcode), r)
            if first is not r and first.payload != r.payload and first.ok:
                leaks.append(f"a resent request's reply differs: {first} then {r}")
        if leaks:
            return Problem("reply-leak", "; ".join(leaks[:3]))
        ftp = self.client()
        try:
            if ftp.ask(OP_ResetSessions) is None:
                return Problem("ftp-silent", f"FTP did not answer ResetSessions within "
                               f"{self.reply_s:g} s after the batch")
            list_logs(ftp.link, self.t.sysid, self.reply_s)
        except WaitTimeout as exc:
            return Problem("log-service-silent", f"the log service did not answer: {exc}")
        except VehicleError as exc:
            return Problem("vehicle-died", f"the vehicle stopped answering: {exc}")
        if self.canary is not None:
            new = sorted(n for n in self.outside() - beside if "skyproof" in n)
            if not self.canary.is_file() or self.canary.read_bytes() != self.content:
                self.canary.write_bytes(self.content)
                return Problem("outside-root", f"the canary outside the FTP root ({self.canary}) "
                               "was changed or removed")
            if new:
                return Problem("outside-root", f"appeared outside the FTP root: {new}")
        changed = [f"{p}: {before[p]} -> {now}" for p in before
                   if (now := self.fingerprint(ftp, p)) != before[p]]
        if changed:
            return Problem("protected-changed", "a protected file changed: " + "; ".join(changed))
        return None


@pytest.mark.requirement("ROB-FTP-PATH", "ROB-FTP-ROOT", "ROB-FTP-RESEND", "ROB-FTP-WRITE-PROTECT",
                         "GB42590-4.11")
def test_fuzzed_ftp_requests_change_nothing(
    request, vehicle_driver, profile, settings, ftp_settings, run_dir, measure, findings
):
    # given the vehicle at rest, the fuzzer's own folder inside the FTP root, a canary just
    # outside it (where the driver says where the root is), and the budget from the profile
    fuzz = {**settings["fuzz"], **ftp_settings["fuzz"]}
    stem = run_dir / "tlogs" / safe_name(request.node.nodeid)
    # no ranged parameters: no FTP request sets one (and their names are one autopilot's)
    fuzzer = FuzzTarget(vehicle_driver, profile, {**settings, "fuzz": fuzz, "param_ranges": {}},
                        stem)
    root = getattr(vehicle_driver, "ftp_root", None)
    canary = root.parent / f"skyproof-canary-{secrets.token_hex(4)}.txt" if root else None
    if canary is not None:
        canary.write_bytes(b"skyproof canary\n")
    t = FtpTarget(fuzzer.target.sysid, fuzzer.target.compid, fuzz["sandbox"],
                  ftp_settings["log_folder"], canary.name if canary else None,
                  tuple(ftp_settings["protected"]))
    judge = FtpJudge(fuzzer, t, root, canary, ftp_settings["reply_s"])
    judge.client().ask(OP_CreateDirectory, data=fuzz["sandbox"].encode())  # it may exist

    def judge_batch(batch: list[Case]) -> Problem | None:
        problem = judge.run(batch)
        if problem is not None and problem.kind in CLASSES:
            search.found.add(CLASSES[problem.kind])  # a class: one defect, not drawn again
        return problem

    search = Search(fuzzer, fuzz, judge_batch)
    # when the corpus of published FTP defects is sent batch by batch, then hypothesis sends
    # batches of hostile requests (shrinking a failure to a minimal batch)
    try:
        search.run(ftp_corpus(t), ftp_batches(t, fuzz["frames_per_example"]),
                   lambda batch: any(c.key in search.found or tags_of(c, t.protected)
                                     & search.found for c in batch))  # fmt: skip
    finally:
        with contextlib.suppress(VehicleError, DriverError, WaitTimeout):
            judge.client().ask(OP_ResetSessions)  # leave no session open
        leftovers = fuzzer.close()
        if root is not None:
            shutil.rmtree(root / fuzz["sandbox"], ignore_errors=True)
        judge.tidy()
        if canary is not None:
            canary.unlink(missing_ok=True)
        for tlog in fuzzer.tlogs:
            request.node.user_properties.append(("tlog", shown(tlog)))
    # then the fuzzer did its work, and the vehicle came through every batch
    search.verdict("FTP fuzzer", request, run_dir, measure, findings,
                   lambda batch: "; ".join(c.what for c in batch),
                   lambda f: CLASSES.get(f.problem.kind) or f.subject)  # fmt: skip
    assert not leftovers, "isolation: " + "; ".join(leftovers)
