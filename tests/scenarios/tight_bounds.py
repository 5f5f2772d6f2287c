"""pytest plugin for test_bad_input.py (`-p tests.scenarios.tight_bounds`): shrinks the floors and
the factor of the wall-time bounds profiles/limits.py derives, to the seconds the environment
gives, so a run of real checks meets its bounds in seconds rather than minutes."""

import os

import pytest

from profiles import limits


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    limits.CHECK_FLOOR_S = float(os.environ["SKYPROOF_TEST_CHECK_FLOOR_S"])
    limits.RUN_FLOOR_S = float(os.environ["SKYPROOF_TEST_RUN_FLOOR_S"])
    limits.WAIT_FACTOR = 0.0  # the floors alone
