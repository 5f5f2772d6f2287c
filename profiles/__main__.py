"""`python -m profiles check FILE...`: validate profiles; exit 0 if all are good, else 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import ProfileError, display
from .loader import load_profile


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profiles", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate profile files and print their hashes")
    check.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args(argv)

    failed = 0
    for file in args.files:
        try:
            profile = load_profile(file)
        except ProfileError as e:
            print(e, file=sys.stderr)
            failed += 1
            continue
        print(f"ok: {display(file)} ({profile.name}, vehicle {profile.vehicle_hash()}, "
              f"verification {profile.verification_hash()})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
