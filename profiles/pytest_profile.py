"""pytest plugin, options and profile loading: `--profile`, the markers, which checks a profile
runs (its suites; scenarios as parameters), that every check names known requirements, and the
`profile` and `settings` fixtures.

Registered by conftest.py and by the `pytest11` entry point (pyproject.toml), so the options are
known even when pytest does not load the repository's conftest.py. That happens when a
path-valued option is given as two words with a path outside the repository
(`--profile /elsewhere/bench.yaml`): before any plugin is loaded, pytest takes the path for a test
path and roots the run there, missing pyproject.toml's settings. `pytest_cmdline_main` then
runs pytest again with each such option joined to its value (`--profile=/elsewhere/bench.yaml`),
which pytest never mistakes for a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from profiles import Profile, ProfileError, load_profile, load_registry
from reports.paths import shown

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = ROOT / "profiles" / "sim.yaml"
SUITES = ROOT / "suites"
MARKERS = (
    "requirement(*ids, ardupilot=id, px4=id): the requirement IDs (profiles/requirements.yaml) "
    "this check verifies; a keyword's ID only when the vehicle is of that autopilot family",
    "needs(*capabilities): skip unless the vehicle's driver declares these capabilities",
)
# every skyproof option that takes a path (the other plugins add the rest of them)
PATH_OPTIONS = ("--profile", "--report-dir", "--vehicle-files", "--sitl-binary", "--history")

VERIFYING = pytest.StashKey[bool]()
PROFILE = pytest.StashKey[Profile]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("skyproof").addoption(
        "--profile",
        default=None,
        help=f"verification profile (default {DEFAULT_PROFILE.relative_to(ROOT)})",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """A two-word path option that pytest took for a test path (it rooted the run elsewhere):
    run again with each such option joined to its value (see the module docstring)."""
    args = list(config.invocation_params.args)
    misread = config.inipath is None or config.rootpath != ROOT
    if not (misread and any(a in PATH_OPTIONS for a in args[:-1])):
        return None
    joined, i = [], 0
    while i < len(args):
        if args[i] in PATH_OPTIONS and i + 1 < len(args):
            joined.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            joined.append(args[i])
            i += 1
    return int(pytest.main(joined, plugins=list(config.invocation_params.plugins or ())))


def is_verification_run(config: pytest.Config) -> bool:
    """True when the run collects suites/ or names a profile (not just the harness's own tests/)."""
    if config.getoption("--profile"):
        return True
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == SUITES or SUITES in path.parents or path in SUITES.parents:
            return True
    return False


def profile_of(config: pytest.Config) -> Profile:
    """The run's profile, loaded once; a bad one is a usage error (exit code 4) naming it."""
    if PROFILE not in config.stash:
        try:
            config.stash[PROFILE] = load_profile(config.getoption("--profile") or DEFAULT_PROFILE)
        except ProfileError as exc:
            raise pytest.UsageError(f"skyproof: bad profile\n{exc}") from None
    return config.stash[PROFILE]


@pytest.hookimpl(tryfirst=True)  # the other plugins' pytest_configure ask for the profile
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    hardware = verifying(config) and profile_of(config).vehicle.get("hardware")
    if hardware and config.getoption("numprocesses", None):
        raise pytest.UsageError("skyproof: a hardware vehicle is one vehicle: run without -n")


def verifying(config: pytest.Config) -> bool:
    """Whether this is a verification run (decided once, whichever plugin asks first)."""
    if VERIFYING not in config.stash:
        config.stash[VERIFYING] = is_verification_run(config)
    return config.stash[VERIFYING]


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not verifying(config):
        return []
    p = profile_of(config)
    return [
        f"skyproof profile: {p.name} ({shown(p.path)}; vehicle {p.vehicle_hash()}, "
        f"verification {p.verification_hash()})"
    ]


# -- collection: the profile picks suites; every check names known requirements ----------------
def suite_of(item: pytest.Item | Any) -> str | None:
    """The suite (folder under suites/) a check belongs to."""
    try:
        rel = item.path.resolve().relative_to(SUITES)
    except ValueError:
        return None
    return rel.parts[0] if len(rel.parts) > 1 else None


# the vehicle identity's autopilot (MAV_AUTOPILOT without its prefix) -> a requirement keyword
FAMILIES = {"ARDUPILOTMEGA": "ardupilot", "PX4": "px4"}


def requirements_of(item: pytest.Item, family: str | None = None, every: bool = False
                    ) -> list[str]:  # fmt: skip
    """The IDs a check verifies: its marker's positional IDs, with the keyword ID of the
    vehicle's autopilot family (`family`), or with every keyword ID (`every`)."""
    marks = list(item.iter_markers("requirement"))
    ids = [rid for mark in marks for rid in mark.args]
    return ids + [rid for mark in marks for fam, rid in mark.kwargs.items()
                  if every or fam == family]  # fmt: skip


def family_requirements(item: pytest.Item, autopilot: str | None) -> list[str]:
    """The keyword IDs that apply to a vehicle whose identity names `autopilot`."""
    family = FAMILIES.get(autopilot or "")
    return [rid for mark in item.iter_markers("requirement")
            for fam, rid in mark.kwargs.items() if fam == family]  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not verifying(config):
        return
    profile = profile_of(config)
    registry = load_registry()
    keep, drop, unknown = [], [], []
    for item in items:
        suite = suite_of(item)
        if suite is None:
            keep.append(item)
            continue
        if suite not in profile.suites:
            drop.append(item)
            continue
        reqs = requirements_of(item, every=True)
        if not reqs:
            unknown.append(f"{item.nodeid}: no @pytest.mark.requirement(...)")
        unknown += [
            f"{item.nodeid}: unknown requirement {r!r}" for r in reqs if r not in registry.ids
        ]
        keep.append(item)
    if unknown:
        raise pytest.UsageError(
            "skyproof: checks must name known requirements:\n  " + "\n  ".join(unknown)
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A check that takes `scenario` runs once per entry of its suite's `scenarios:` list."""
    if "scenario" not in metafunc.fixturenames or not verifying(metafunc.config):
        return
    suite = suite_of(metafunc.definition)
    settings = profile_of(metafunc.config).suites.get(suite or "", {})
    scenarios = settings.get("scenarios", [])
    metafunc.parametrize("scenario", scenarios, ids=[s["name"] for s in scenarios])


def pytest_collection_finish(session: pytest.Session) -> None:
    """`pytest --collect-only` also lists every check with the requirement IDs it verifies."""
    config = session.config
    if not (config.option.collectonly and verifying(config)):
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    tr.write_sep("-", "checks and the requirements they verify")
    for item in session.items:
        tr.write_line(f"{item.nodeid}  [{', '.join(requirements_of(item, every=True))}]")


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    """The verification profile of this run (`--profile`)."""
    return profile_of(pytestconfig)


@pytest.fixture
def settings(request: pytest.FixtureRequest, profile: Profile) -> dict[str, Any]:
    """This check's suite section of the profile: its thresholds and parameters."""
    suite = suite_of(request.node)
    if suite is None or suite not in profile.suites:
        pytest.fail(f"{request.node.nodeid} is not in a suite the profile configures")
    return profile.suites[suite]
