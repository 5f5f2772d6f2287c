"""skyproof's pytest plugins (skyproof_plugins.py lists them, one job each).

    suites (checks) -> fixtures (these plugins) -> drivers (link, services, ...) -> pymavlink

A verification run (one that collects suites/) writes one folder under reports/runs/: JUnit XML,
allure-results, results.json, summary.md, report.html, a .tlog per check; and records itself in
the run history (reports/history.sqlite). The vehicles' own files (SITL's eeprom, dataflash
logs, the simulator's log) go to reports/vehicle-files/<run>/, apart from what is shared: they
may hold the vehicle's secrets.
"""

from skyproof_plugins import pytest_plugins  # noqa: F401  (pytest reads it from here)
