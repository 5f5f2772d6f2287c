"""skyproof's pytest plugins, one job each, living with their layer:

    profiles/pytest_profile.py   options and profile loading; which checks run; profile, settings
    reports/pytest_verdicts.py   measure, findings; verdicts and waivers
    drivers/pytest_vehicle.py    vehicle and link fixtures: vehicle_driver, proxy, link, vehicle
    reports/pytest_record.py     the run folder and its reports (results.json, summary.md, ...)
    drivers/pytest_interrupts.py SIGTERM as Ctrl-C, vehicles killed on either; wall-time bounds

This module is the `pytest11` entry point (pyproject.toml), so they load in every pytest run of
this environment, wherever pytest starts and whatever it takes for its root directory: the
options (`--profile`, ...) are always known (profiles/pytest_profile.py says why that matters).
conftest.py lists the same plugins for a checkout that is not installed.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)  # the repository's folders are not installed (pyproject.toml)

pytest_plugins = [
    "profiles.pytest_profile",
    "reports.pytest_verdicts",
    "drivers.pytest_vehicle",
    "reports.pytest_record",
    "drivers.pytest_interrupts",
]
