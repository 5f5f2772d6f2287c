"""Scenario for test_reports.py (run explicitly): a check that fails once, then passes."""

import os
from pathlib import Path


def test_fails_the_first_time(tmp_path_factory, measure):
    marker = Path(os.environ["SKYPROOF_FLAKY_MARKER"])
    first = not marker.exists()
    marker.touch()
    m = measure.at_most("attempt", 1 if first else 0, "", 0)
    assert m.ok, m
