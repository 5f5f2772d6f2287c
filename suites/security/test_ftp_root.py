"""The FTP root holds (ROB-FTP-ROOT; PX4 #25808): no spelling of a path reaches a file outside
the vehicle's FTP root, for any operation. Judged by effect on the host: the harness owns the
folder around the root, plants a canary file just outside it, and looks whether an FTP list
shows it, a read returns it, a write, truncate, remove or rename changes it, or a create or
rename makes a file or folder appear out there. A positive control first shows the operation
works inside the root. The tricks: `..` in several spellings, a rooted `/..`, doubled slashes,
the canary's absolute host path, and a backslash (a separator on some file systems)."""

from __future__ import annotations

import secrets

import pytest

from drivers.services.ftp import FtpClient, OP_OpenFileWO, OP_RemoveFile, OP_WriteFile

TRICKS = ("../{}", "/../{}", "./../{}", "./.././{}", "//..//{}", "..\\{}", "{abs}")


FOLDERS = ("..", "/..", "./..", "//..//", "..\\", "{abs}")


def label(template: str) -> str:
    """A spelling as every run names it (a finding's subject)."""
    return template.replace("{}", "NAME").replace("{abs}", "ABSOLUTE-PATH")


def spellings(name: str, absolute: str) -> list[tuple[str, str]]:
    return [(label(t), t.format(name, abs=absolute)) for t in TRICKS]


def folders(absolute_dir: str) -> list[tuple[str, str]]:
    return [(label(t), t.format(abs=absolute_dir)) for t in FOLDERS]


def positive_control(ftp: FtpClient, canary, op: str) -> str:
    """A file created over FTP inside the root shows up where the root is: the operations work
    and the root is where the harness thinks."""
    name = f"skyproof-inside-{secrets.token_hex(3)}.txt"
    reply = ftp.write(name, b"inside")
    inside = canary.root / name
    if not (reply.ok and inside.is_file()):
        pytest.fail(f"positive control for {op}: CreateFile {name!r} answered {reply}, and "
                    f"{inside} {'exists' if inside.exists() else 'does not exist'}: the FTP "
                    "service or its root is not where the driver says", pytrace=False)
    return name


def attempt(ftp: FtpClient, canary, op: str, inside: str) -> list[tuple[str, str]]:
    """What reached outside the root: (spelling as every run names it, what it did) per trick
    that did."""
    reached: list[tuple[str, str]] = []
    parent = canary.path.parent
    if op == "list":
        for spelled, path in folders(str(parent)):
            entries, _ = ftp.list_dir(path)
            if any(e[1:].split("\t")[0] == canary.name for e in entries):
                reached.append((spelled, f"ListDirectory {path!r} showed {canary.name}"))
        return reached
    for spelled, path in spellings(canary.name, str(canary.path)):
        canary.replant()
        if op == "read":
            data, opened = ftp.read(path)
            if opened.ok:
                got = "its content" if data == canary.content else f"{len(data or b'')} bytes"
                reached.append((spelled, f"OpenFileRO {path!r} opened the canary ({got})"))
        elif op == "create":
            new = path.replace(canary.name, canary.name + ".new")
            ftp.write(new, b"escaped")
            folder = path.replace(canary.name, canary.name + ".dir")
            ftp.mkdir(folder)
            for made in (parent / (canary.name + ".new"), parent / (canary.name + ".dir")):
                if made.exists():
                    kind = "folder" if made.is_dir() else "file"
                    reached.append(
                        (spelled, f"{path!r} spelling created the {kind} {made.name} outside"))
                    made.rmdir() if made.is_dir() else made.unlink()
        elif op == "write":
            opened = ftp.request(OP_OpenFileWO, data=path.encode())
            if opened.ok:
                ftp.request(OP_WriteFile, session=opened.session, data=b"ESCAPED")
                ftp.terminate(opened.session)
            ftp.truncate(path, 1)
            if not canary.intact():
                reached.append(
                    (spelled, f"OpenFileWO/WriteFile/TruncateFile {path!r} changed the canary"))
        elif op == "remove":
            ftp.remove(path)
            if not canary.path.exists():
                reached.append((spelled, f"RemoveFile {path!r} removed the canary"))
        elif op == "rename":
            moved = f"skyproof-moved-{secrets.token_hex(3)}"
            ftp.rename(path, moved)
            if not canary.path.exists() or (canary.root / moved).exists():
                reached.append(
                    (spelled, f"Rename {path!r} -> {moved!r} took the canary into the root"))
                (canary.root / moved).unlink(missing_ok=True)
            out = path.replace(canary.name, canary.name + ".out")
            ftp.rename(inside, out)
            escaped = parent / (canary.name + ".out")
            if escaped.exists():
                reached.append(
                    (spelled, f"Rename {inside!r} -> {out!r} put a file outside the root"))
                escaped.rename(canary.root / inside)  # back, for the next spelling
            if not (canary.root / inside).exists():
                ftp.write(inside, b"inside")  # renamed to a literal name inside: a new one
    return reached


def tidy(canary) -> None:
    """What the tricks left inside the root under a literal name (`..\\x` is a file name)."""
    for p in canary.root.iterdir():
        if canary.name in p.name or p.name.startswith("skyproof-"):
            p.rmdir() if p.is_dir() else p.unlink()


@pytest.mark.requirement("ROB-FTP-ROOT", "GB42590-4.11")
@pytest.mark.parametrize("op", ["list", "read", "create", "write", "remove", "rename"])
def test_ftp_root_holds(op, ftp, canary, measure, findings):
    # given a canary file just outside the vehicle's FTP root, and FTP working inside it
    inside = positive_control(ftp, canary, op)
    try:
        # when each spelling of a path outside the root is tried with this operation
        reached = attempt(ftp, canary, op, inside)
    finally:
        ftp.ask(OP_RemoveFile, data=inside.encode())
        tidy(canary)
    # then none reaches the canary or the folder around the root
    tried = len(FOLDERS) if op == "list" else len(TRICKS)
    measure.record_value("path spellings tried", tried, "")
    escaped = sorted({spelled for spelled, _ in reached})
    for spelled in escaped:  # one defect per spelling: the same on every run
        texts = [text for s, text in reached if s == spelled]
        findings.add("escapes-root", f"{op} via {spelled}", "; ".join(texts))
    m = measure.at_most(f"spellings whose {op} reached outside the FTP root", len(escaped), "",
                        0)
    assert m.ok, f"{op} outside the FTP root ({canary.root}): " + "; ".join(
        text for _, text in reached)
