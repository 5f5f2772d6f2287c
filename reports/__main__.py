"""`python -m reports RUN_DIR`: rebuild a run's summary.md from its results.json."""

import json
import sys
from pathlib import Path

from reports.summary import build_summary


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m reports RUN_DIR", file=sys.stderr)
        return 2
    run = Path(argv[0])
    try:
        results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"reports: cannot read {run / 'results.json'}: {exc}", file=sys.stderr)
        return 1
    (run / "summary.md").write_text(build_summary(results), encoding="utf-8")
    print(run / "summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
