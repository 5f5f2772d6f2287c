"""The log service (common.xml LOG_* messages): LOG_REQUEST_LIST is answered by one LOG_ENTRY
per log, LOG_REQUEST_DATA by LOG_DATA chunks of up to 90 bytes. Every wait is bounded in
vehicle seconds and says what it waited for."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.link.connection import Link


@dataclass(frozen=True)
class LogEntry:
    id: int
    num_logs: int
    last_log_num: int
    size: int


def list_logs(link: Link, sysid: int, timeout_s: float) -> list[LogEntry]:
    """Every log the vehicle lists (LOG_REQUEST_LIST 0..0xFFFF). An empty list is one
    LOG_ENTRY saying num_logs 0; WaitTimeout if the first entry or a promised one is missing."""
    entries: dict[int, LogEntry] = {}
    msg = link.mav.log_request_list_encode(sysid, 1, 0, 0xFFFF)
    with link.subscribe(["LOG_ENTRY"]) as sub:
        link.send(msg)
        expected = None
        while expected is None or len(entries) < expected:
            got = link.wait(
                f"LOG_ENTRY {len(entries) + 1} of {expected if expected is not None else '?'} "
                "after LOG_REQUEST_LIST", ["LOG_ENTRY"],
                lambda m: m.get_srcSystem() == sysid, timeout_s=timeout_s, sub=sub).msg
            expected = got.num_logs
            if got.num_logs == 0:
                return []
            entries[got.id] = LogEntry(got.id, got.num_logs, got.last_log_num, got.size)
    return [entries[k] for k in sorted(entries)]


def read_log(link: Link, sysid: int, log_id: int, count: int, timeout_s: float,
             ofs: int = 0) -> bytes:
    """`count` bytes of log `log_id` from `ofs` (fewer if the log ends first); WaitTimeout
    names the offset it was waiting for."""
    chunks: dict[int, bytes] = {}
    want_end = ofs + count
    with link.subscribe(["LOG_DATA"]) as sub:
        link.send(link.mav.log_request_data_encode(sysid, 1, log_id, ofs, count))
        try:
            have = ofs
            while have < want_end:
                got = link.wait(
                    f"LOG_DATA of log {log_id} at offset {have} (asked {ofs}..{want_end})",
                    ["LOG_DATA"], lambda m: m.get_srcSystem() == sysid and m.id == log_id,
                    timeout_s=timeout_s, sub=sub).msg
                if got.count == 0:
                    break  # the end of the log
                chunks[got.ofs] = bytes(got.data[:got.count])
                while have in chunks:
                    have += len(chunks[have])
        finally:
            link.send(link.mav.log_request_end_encode(sysid, 1))
    out = b"".join(chunks[k] for k in sorted(chunks) if k >= ofs)
    return out[:count]

