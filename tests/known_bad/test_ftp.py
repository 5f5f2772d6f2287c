"""Every file-side check (suites/security/test_ftp_*.py: MAVLink FTP, the log service,
SERIAL_CONTROL) can fail, each for its own reason: the files run against the simulator
(profiles/sim.yaml) with the FTP faults on, and each check a fault speaks to FAILS with a
fragment of its OWN message while every other check of the run passes
(tests/known_bad/runner.py). The traversal fault fails every operation of the root check, so it
runs alone; the crash, leak, bypass and unsigned faults speak to one check each and share a
run (the crash on a long name comes back as a fresh simulator for the next check, its long
names removed). The FTP fuzzer's corpus meets the four published defects in one run. Each
write-protection order has a fault of its own (one handler that forgets
the check); the orders judge only what their own attack did, so four share a run, and the
removal runs alone (a protected file gone would skip the orders after it)."""

import pytest

from tests.known_bad.runner import Proof, assert_fails_exactly, run_proof

ROOT = "suites/security/test_ftp_root.py"
WRITE = "suites/security/test_ftp_write_protect.py"
FUZZ = "suites/security/test_ftp_fuzz.py"
FTP = (ROOT, "suites/security/test_ftp_long_names.py", "suites/security/test_ftp_resend.py",
       WRITE, "suites/security/test_ftp_unsigned.py")
BASE = "sim.yaml"


def order(name: str, *fragments: str) -> dict:
    return {f"test_write_protection_holds[{name}]": (
        f"write protection broken by {name}: @SYS/storage.bin", *fragments)}


PROOFS = {
    # `..` leaves the root: every operation reaches the canary or the folder around the root
    "traversal": Proof(
        (ROOT,),
        ("ftp_traversal",),
        {
            "test_ftp_root_holds[list]": ("ListDirectory '..' showed skyproof-canary-",),
            "test_ftp_root_holds[read]": ("OpenFileRO '../skyproof-canary-", "opened the canary"),
            "test_ftp_root_holds[create]": ("created the file", "outside"),
            "test_ftp_root_holds[write]": ("changed the canary",),
            "test_ftp_root_holds[remove]": ("RemoveFile '../skyproof-canary-",
                                            "removed the canary"),
            "test_ftp_root_holds[rename]": ("took the canary into the root",
                                            "put a file outside the root"),
        },
        base=BASE,
    ),
    # a crash on a long log name, a resend that leaks the reply buffer, Open + List + Write, and
    # an unsigned peer served the key file and a shell
    "crash_leak_bypass_unsigned": Proof(
        FTP,
        ("ftp_long_name_crash", "ftp_resend_leaks", "ftp_write_protect_bypass",
         "ftp_unsigned_key_read", "serial_control_unsigned_shell"),
        {
            "test_long_names_crash_nothing": ("the log service did not answer after the long "
                                              "names", "simulator exited with code 3"),
            "test_resent_request_gets_the_same_reply": ("the resent reply differs",
                                                        "non-zero bytes past the first reply's"),
            "test_write_protection_holds[open_list_write]": (
                "write protection broken by open_list_write", "holds the attack's bytes"),
            "test_key_file_is_not_read_unsigned": ("an unsigned OpenFileRO '@SYS/storage.bin'",
                                                   "bytes of it read unsigned"),
            "test_serial_control_gives_no_unsigned_shell": (
                "an unsigned SERIAL_CONTROL shell request was answered",),
        },
        base=BASE,
    ),
    # one handler each forgets the protection: open for writing, create, truncate, rename onto
    "unprotected_handlers": Proof(
        (WRITE,),
        ("ftp_open_wo_unprotected", "ftp_create_unprotected", "ftp_truncate_unprotected",
         "ftp_rename_onto_protected"),
        {
            **order("open_write", "holds the attack's bytes", "OpenFileWO -> ACK"),
            **order("create", "bytes, was", "CreateFile -> ACK"),
            **order("truncate", "is 1 bytes", "TruncateFile -> ACK"),
            **order("rename_onto", "bytes, was", "Rename -> ACK"),
        },
        base=BASE,
    ),
    # the fuzzer's corpus meets each published defect: traversal, the crash on a long log
    # name, the resend that leaks, Open + List + Write
    "fuzz_corpus": Proof(
        (FUZZ,),
        ("ftp_traversal", "ftp_long_name_crash", "ftp_resend_leaks", "ftp_write_protect_bypass"),
        {
            "test_fuzzed_ftp_requests_change_nothing": (
                "outside-root after FTP RemoveFile escape path ../canary",
                "vehicle-died after FTP CreateFile long log name",
                "reply-leak after FTP OpenFileRO @SYS/storage.bin",
                "a resent request's reply differs",
                "protected-changed after FTP OpenFileRO @SYS/storage.bin",
                "reproducer: ",
            ),
        },
        base=BASE,
    ),
    "unprotected_remove": Proof(
        (f"{WRITE}::test_write_protection_holds[remove]",),
        ("ftp_remove_unprotected",),
        order("remove", "is gone", "RemoveFile -> ACK"),
        base=BASE,
    ),
}


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_faults_fail_exactly_their_ftp_checks(name, tmp_path):
    proof = PROOFS[name]
    # given the simulator with these FTP faults on, when the FTP suite runs, then exactly the
    # checks that speak to them fail, each saying why
    assert_fails_exactly(run_proof(proof, tmp_path), proof)
