"""profiles/: loading, merging, validating and hashing profiles; the requirement registry."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
import yaml

from profiles import ProfileError, Waiver, load_profile, load_registry
from profiles.__main__ import main

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "profiles"

# A minimal valid profile; cases below append to it or replace it.
HEAD = "skyproof: 1\nname: x\nvehicle: {driver: sim}\n"


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """write(name, text) -> Path; runs in tmp_path so messages show short relative names."""
    monkeypatch.chdir(tmp_path)

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


def error_of(path: Path) -> str:
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return str(caught.value)


# (id, profile text, line, field path, a fragment of the fix); line None = no line applies.
MALFORMED = [
    ("wrong-type", HEAD + "suites:\n  basic:\n    max_gap_s: two\n", 6, "suites.basic.max_gap_s",
     "'two' is not a number; expected a number > 0, e.g. max_gap_s: 2.0"),
    ("unknown-key", HEAD + "link:\n  silense_s: 3\n", 5, "link.silense_s",
     "unknown key; did you mean 'silence_s'?"),
    ("unknown-key-no-match", HEAD + "colour: red\n", 4, "colour",
     "unknown key; expected one of: skyproof, name"),
    ("unknown-suite", HEAD + "suites:\n  basci: {}\n", 5, "suites.basci",
     "unknown key; did you mean 'basic'?"),
    ("missing-skyproof", "name: x\nvehicle: {driver: sim}\n", 1, "skyproof",
     "missing; add `skyproof: 1` as the first line"),
    ("wrong-version", "skyproof: 2\nname: x\nvehicle: {driver: sim}\n", 1, "skyproof",
     "2 is not supported; expected `skyproof: 1`"),
    ("missing-name", "skyproof: 1\nvehicle: {driver: sim}\n", 1, "name", "missing; add `name: "),
    ("blank-name", "skyproof: 1\nname: '  '\nvehicle: {driver: sim}\n", 2, "name",
     "is empty; expected non-empty text"),
    ("missing-vehicle", "skyproof: 1\nname: x\n", 1, "vehicle",
     "missing; add `vehicle: {driver: sim}`"),
    ("missing-driver", "skyproof: 1\nname: x\nvehicle:\n  speedup: 2\n", 3, "vehicle.driver",
     "missing; add `driver: sim` under vehicle"),
    ("null-section", "skyproof: 1\nname: x\nvehicle:\n", 3, "vehicle",
     "no value given; expected a mapping, e.g. vehicle: {driver: sim}"),
    ("bad-enum", "skyproof: 1\nname: x\nvehicle: {driver: simm}\n", 3, "vehicle.driver",
     "unknown value 'simm'; did you mean 'sim'?"),
    ("too-fast", "skyproof: 1\nname: x\nvehicle:\n  driver: sim\n  speedup: 500\n", 5,
     "vehicle.speedup", "500 is out of range; expected a number > 0 and <= 100"),
    ("sysid-zero", HEAD.replace("sim}", "sim, sysid: 0}"), 3, "vehicle.sysid",
     "expected an integer >= 1 and <= 255"),
    ("float-seed", HEAD.replace("sim}", "sim, seed: 1.5}"), 3, "vehicle.seed",
     "1.5 is not an integer"),
    ("nan", HEAD.replace("sim}", "sim, speedup: .nan}"), 3, "vehicle.speedup",
     "'.nan' is not a number"),
    ("home-short", "skyproof: 1\nname: x\nvehicle:\n  driver: sim\n  home: [22.5, 113.9, 20]\n", 5,
     "vehicle.home", "has 3 items; expected [latitude, longitude, altitude m, heading deg]"),
    ("home-latitude", "skyproof: 1\nname: x\nvehicle:\n  driver: sim\n  home:\n    - 95\n"
     "    - 113.9\n    - 20\n    - 0\n", 6, "vehicle.home[0]", "expected latitude (deg), a number"),
    ("heading-360", HEAD.replace("sim}", "sim, home: [0, 0, 0, 360]}"), 3, "vehicle.home[3]",
     "a number >= 0 and < 360"),
    ("gcs-key", HEAD + "link:\n  gcs: {sysid: 255, comp: 1}\n", 5, "link.gcs.comp",
     "did you mean 'compid'?"),
    ("hz-upside-down", HEAD + "suites:\n  basic:\n    heartbeat_hz: [1.5, 1.2]\n", 6,
     "suites.basic.heartbeat_hz", "min 1.5 > max 1.2; give [min, max]"),
    ("hz-one-item", HEAD + "suites:\n  basic:\n    heartbeat_hz: [1]\n", 6,
     "suites.basic.heartbeat_hz", "has 1 item; give [min, max], e.g. heartbeat_hz: [0.8, 1.2]"),
    ("takeoff-too-high", HEAD + "suites:\n  basic: {takeoff_alt_m: 150}\n", 5,
     "suites.basic.takeoff_alt_m", "expected a number > 0 and <= 120"),
    ("param-half", HEAD + "suites:\n  basic:\n    param_roundtrip: {px4: {value: 3}}\n", 6,
     "suites.basic.param_roundtrip.px4.name", "missing; add `name: SDLOG_UTC_OFFSET`"),
    ("suite-null", HEAD + "suites:\n  basic:\n", 5, "suites.basic", "e.g. basic: {}"),
    ("unknown-set", HEAD + "requirements: [mavlink, gb4259]\n", 4, "requirements[1]",
     "unknown value 'gb4259'; did you mean 'gb42590'?"),
    ("repeated-set", HEAD + "requirements: [mavlink, mavlink]\n", 4, "requirements",
     "lists an item more than once"),
    ("bad-date", HEAD + "waivers:\n  - finding: basic/test_x\n    reason: known\n"
     "    expires: 2027-13-45\n", 7, "waivers[0].expires",
     "'2027-13-45' is not a valid date; expected a date YYYY-MM-DD, e.g. expires: 2027-06-30"),
    ("waiver-no-reason", HEAD + "waivers:\n  - finding: basic/test_x\n    expires: 2027-06-30\n", 5,
     "waivers[0].reason", "missing; add `reason: "),
    ("waiver-blank-reason", HEAD + "waivers:\n  - finding: basic/test_x\n    reason: ''\n"
     "    expires: 2027-06-30\n", 6, "waivers[0].reason", "is empty; expected non-empty text"),
    ("extends-number", "skyproof: 1\nextends: 5\n", 2, "extends", "5 is not text or a list"),
    ("duplicate-key", "skyproof: 1\nname: x\nvehicle:\n  driver: sim\n  driver: sim\n", 5,
     "vehicle.driver", "duplicate key (first at line 4); keep only one"),
    ("yes-is-a-key", HEAD + "on: 1\n", 4, "on", "unknown key"),
    ("self-alias", "skyproof: 1\nname: &a [*a]\n", 2, "name[0]", "an alias refers to itself"),
    # a tolerance or bound that would make its check meaningless (x-below in schema.yaml)
    ("failsafe-window-past-zero", HEAD + "suites:\n  failsafe: {tolerance_s: 1000}\n", 5,
     "suites.failsafe.tolerance_s", "1000 is not below gcs_timeout_s (5): the window "
     "gcs_timeout_s ± tolerance_s would reach zero, accepting a failsafe at any time; give "
     "tolerance_s below 5, e.g. tolerance_s: 1.0"),
    ("failsafe-tolerance-equal", HEAD + "suites:\n  failsafe:\n    gcs_timeout_s: 3\n"
     "    tolerance_s: 3\n", 7, "suites.failsafe.tolerance_s", "3 is not below gcs_timeout_s (3)"),
    ("security-failsafe", HEAD + "suites:\n  security:\n    failsafe: {tolerance_s: 5}\n", 6,
     "suites.security.failsafe.tolerance_s", "5 is not below gcs_timeout_s (5)"),
    ("altitude-tolerance", HEAD + "suites:\n  basic: {alt_tolerance_m: 1000}\n", 5,
     "suites.basic.alt_tolerance_m", "1000 is not below takeoff_alt_m (10): a take-off that "
     "never left the ground would pass; give alt_tolerance_m below 10, e.g. alt_tolerance_m: 1.0"),
    ("takeoff-under-default-tolerance", HEAD + "suites:\n  basic: {takeoff_alt_m: 0.5}\n", 5,
     "suites.basic.takeoff_alt_m", "0.5 is not above alt_tolerance_m (1.0): a take-off that "
     "never left the ground would pass; give takeoff_alt_m above 1.0, or alt_tolerance_m "
     "below 0.5"),
    ("gap-longer-than-sample", HEAD + "suites:\n  basic: {sample_s: 5, max_gap_s: 6}\n", 5,
     "suites.basic.max_gap_s", "6 is not below sample_s (5)"),
    ("arrive-radius", HEAD + "suites:\n  radio: {arrive_radius_m: 150}\n", 5,
     "suites.radio.arrive_radius_m", "150 is not below range_points_m (100)"),
    ("fuzz-verdict-unreachable", HEAD + "suites:\n  security:\n    fuzz: {min_examples: 40}\n",
     6, "suites.security.fuzz.min_examples", "40 is not at most examples (30)"),
    ("flood-recover-past-wait", HEAD + "suites:\n  security:\n    flood: {recover_s: 60}\n", 6,
     "suites.security.flood.recover_s", "60 is not below stall_wait_s (60)"),
    ("negative-fade-margin", HEAD + "suites:\n  radio: {fade_margin_min_db: -3}\n", 5,
     "suites.radio.fade_margin_min_db", "-3 is out of range; expected a number >= 0"),
    ("loss-of-everything", HEAD + "suites:\n  link: {max_loss: 1}\n", 5,
     "suites.link.max_loss", "expected a number >= 0 and < 1"),
    ("endless-landing", HEAD + "suites:\n  failsafe: {land_timeout_s: 1000000}\n", 5,
     "suites.failsafe.land_timeout_s", "expected a number > 0 and <= 600"),
    ("endless-silence", HEAD + "link: {silence_s: 1000}\n", 4, "link.silence_s",
     "expected a number > 0 and <= 120"),
]


@pytest.mark.parametrize(("text", "line", "field", "fix"), [c[1:] for c in MALFORMED],
                         ids=[c[0] for c in MALFORMED])
def test_a_malformed_profile_names_file_line_field_and_fix(write, text, line, field, fix):
    message = error_of(write("x.yaml", text))
    expected_start = f"x.yaml:{line}: {field}: "
    assert any(m.startswith(expected_start) and fix in m for m in message.splitlines()), (
        f"wanted a line starting {expected_start!r} containing {fix!r}; got:\n{message}")


# Problems found before there is any structure to point into: no field path.
NOT_A_PROFILE = [
    ("empty", "", "x.yaml:1: an empty file; a profile is a mapping that starts with `skyproof: 1`"),
    ("comment-only", "# nothing\n", "x.yaml:1: an empty file;"),
    ("top-level-list", "- a\n- b\n", "x.yaml:1: a list at the top level;"),
    ("bad-yaml", "skyproof: 1\nvehicle:\n  driver: [sim\n",
     "x.yaml: not valid YAML: while parsing a flow sequence, expected ',' or ']'"),
    ("tab", "skyproof: 1\nvehicle:\n\tdriver: sim\n", "x.yaml: not valid YAML: "),
    ("two-documents", "skyproof: 1\n---\nskyproof: 1\n",
     "x.yaml: not valid YAML: expected a single document in the stream, but found another"),
    ("python-tag", "skyproof: 1\nname: !!python/object x\n", "at line 2, column 7"),
    ("complex-key", "skyproof: 1\n? [a, b]\n: 1\n", "x.yaml:2: a key must be plain text"),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in NOT_A_PROFILE],
                         ids=[c[0] for c in NOT_A_PROFILE])
def test_a_file_that_is_not_a_profile_gets_one_clear_line(write, text, fragment):
    assert fragment in error_of(write("x.yaml", text))


def test_bad_yaml_message_gives_line_and_column(write):
    text = "skyproof: 1\nname: x\nvehicle:\n  driver: sim\n   bad: 1\n"
    message = error_of(write("x.yaml", text))
    assert message.startswith("x.yaml: not valid YAML: ")
    assert message.endswith("mapping values are not allowed here at line 5, column 7")


def test_all_schema_errors_of_a_file_come_at_once_sorted_by_line(write):
    message = error_of(write("x.yaml", """
        skyproof: 1
        name: x
        vehicle:
          driver: sim
          speedup: -1
          spedup: 2
        suites:
          basic: {max_gap_s: 0}
        requirements: [nope]
    """))
    lines = [m.split(":")[1] for m in message.splitlines()]
    assert lines == ["5", "6", "8", "9"], message


def test_a_relation_broken_across_files_is_told_where_it_was_last_written(write):
    write("verify.yaml", "skyproof: 1\nsuites:\n  basic: {alt_tolerance_m: 2}\n")
    message = error_of(write("x.yaml", HEAD + "extends: verify.yaml\nsuites:\n"
                             "  basic: {takeoff_alt_m: 1.5}\n"))  # fmt: skip
    assert message == (
        "x.yaml:6: suites.basic.takeoff_alt_m: 1.5 is not above alt_tolerance_m (2): a take-off "
        "that never left the ground would pass; give takeoff_alt_m above 2, or alt_tolerance_m "
        "below 1.5"
    )


def test_a_missing_profile_lists_the_available_ones(write, tmp_path):
    write("sim.yaml", HEAD)
    write("notes.yaml", "just: notes\n")  # not a profile: no `skyproof:`
    message = error_of(tmp_path / "simm.yaml")
    assert message == ("simm.yaml: no such profile file; did you mean sim.yaml? "
                       "available: sim.yaml")


# ---- extends ----

def test_extends_merges_mappings_deeply_and_replaces_lists(write):
    write("base.yaml", """
        skyproof: 1
        name: base
        vehicle: {driver: sim, speedup: 20, home: [1, 2, 3, 4]}
        suites: {basic: {max_gap_s: 3.0, sample_s: 5}}
        requirements: [mavlink, gb42590]
    """)
    profile = load_profile(write("top.yaml", """
        skyproof: 1
        extends: base.yaml
        vehicle: {home: [5, 6, 7, 8]}
        suites: {basic: {sample_s: 7}}
        requirements: [mavlink]
    """))
    assert profile.name == "base"
    assert profile.vehicle["speedup"] == 20 and profile.vehicle["home"] == [5, 6, 7, 8]
    assert profile.suites["basic"]["max_gap_s"] == 3.0 and profile.suites["basic"]["sample_s"] == 7
    assert profile.requirements == ["mavlink"]
    assert "extends" not in profile.data


def test_extends_paths_are_relative_to_the_extending_file_and_merge_left_to_right(write):
    write("parts/a.yaml", "skyproof: 1\nname: a\nvehicle: {driver: sim, seed: 1}\n")
    write("parts/b.yaml", "skyproof: 1\nname: b\nvehicle: {seed: 2}\n")
    top = write("top.yaml", "skyproof: 1\nextends: [parts/a.yaml, parts/b.yaml]\n")
    profile = load_profile(top)
    assert (profile.name, profile.vehicle["seed"]) == ("b", 2)
    assert [p.name for p in profile.sources] == ["a.yaml", "b.yaml", "top.yaml"]


def test_a_diamond_merges_the_shared_base_once(write):
    write("d.yaml", "skyproof: 1\nname: d\nvehicle: {driver: sim, seed: 1}\n")
    write("b.yaml", "skyproof: 1\nextends: d.yaml\nvehicle: {seed: 2}\n")
    write("c.yaml", "skyproof: 1\nextends: d.yaml\nname: c\n")
    profile = load_profile(write("a.yaml", "skyproof: 1\nextends: [b.yaml, c.yaml]\n"))
    assert [p.name for p in profile.sources] == ["d.yaml", "b.yaml", "c.yaml", "a.yaml"]
    assert profile.vehicle["seed"] == 2  # c's copy of d did not undo b


def test_an_error_in_a_base_points_at_the_base_file_and_line(write):
    write("vehicles/sim.yaml", "skyproof: 1\nvehicle:\n  driver: sim\n  speedup: 500\n")
    message = error_of(write("top.yaml", "skyproof: 1\nname: t\nextends: vehicles/sim.yaml\n"))
    assert message.startswith("vehicles/sim.yaml:4: vehicle.speedup: 500 is out of range;")


def test_an_overriding_value_is_blamed_on_the_file_that_wrote_it(write):
    write("base.yaml", "skyproof: 1\nname: b\nvehicle:\n  driver: sim\n  speedup: 2\n")
    message = error_of(write("top.yaml", "skyproof: 1\nextends: base.yaml\n\nvehicle:\n"
                                         "  speedup: fast\n"))
    assert message.startswith("top.yaml:5: vehicle.speedup: 'fast' is not a number")


def test_a_missing_base_names_the_extending_file_its_line_and_the_path(write):
    write("vehicles/sim.yaml", "skyproof: 1\n")
    message = error_of(write("top.yaml", "skyproof: 1\nname: t\nextends:\n"
                                         "  - vehicles/simm.yaml\n"))
    assert message == ("top.yaml:4: extends[0]: no such file 'vehicles/simm.yaml' "
                       "(looked for vehicles/simm.yaml); did you mean 'vehicles/sim.yaml'?")


def test_an_extends_cycle_names_the_chain(write):
    write("a.yaml", "skyproof: 1\nname: a\nextends: b.yaml\n")
    write("b.yaml", "skyproof: 1\nextends: [c.yaml]\n")
    write("c.yaml", "skyproof: 1\nextends: [a.yaml]\n")
    message = error_of(Path("a.yaml"))
    assert message == ("c.yaml:2: extends[0]: extends cycle a.yaml -> b.yaml -> c.yaml -> a.yaml;"
                       " remove one of these extends")


def test_a_file_extending_itself_is_a_cycle(write):
    assert "extends cycle x.yaml -> x.yaml" in error_of(write("x.yaml", HEAD + "extends: x.yaml\n"))


def test_every_extended_file_needs_skyproof(write):
    write("base.yaml", "vehicle: {driver: sim}\n")
    message = error_of(write("top.yaml", "skyproof: 1\nname: t\nextends: base.yaml\n"))
    assert message == "base.yaml:1: skyproof: missing; add `skyproof: 1` as the first line"


# ---- defaults and hashes ----

def test_defaults_fill_present_objects_and_an_empty_suite(write):
    profile = load_profile(write("x.yaml", HEAD + "suites: {basic: {}}\n"))
    assert profile.vehicle == {"driver": "sim", "log_after_arming_s": 3, "speedup": 1, "seed": 0,
                               "sysid": 1, "faults": []}
    assert profile.link == {"silence_s": 10, "gcs": {"sysid": 255, "compid": 190}}
    assert profile.suites["basic"] == {
        "sample_s": 10, "heartbeat_hz": [0.8, 1.2], "max_gap_s": 2.0,
        "param_roundtrip": {"ardupilot": {"name": "RTL_ALT", "value": 2500},
                            "px4": {"name": "SDLOG_UTC_OFFSET", "value": 480}},
        "param_float": {"ardupilot": {"name": "WPNAV_SPEED", "value": 123.45},
                        "px4": {"name": "RTL_RETURN_ALT", "value": 23.45}},
        "ready_timeout_s": 60,
        "takeoff_alt_m": 10, "alt_tolerance_m": 1.0, "climb_timeout_s": 30, "land_timeout_s": 60}
    assert (profile.requirements, profile.waivers) == ([], [])


def test_a_profile_without_suites_runs_none(write):
    assert load_profile(write("x.yaml", HEAD)).suites == {}


def test_hashes_are_12_hex_and_stable_across_loads(write):
    path = write("x.yaml", HEAD + "suites: {basic: {}}\n")
    first, again = load_profile(path), load_profile(path)
    assert len(first.vehicle_hash()) == 12 and int(first.vehicle_hash(), 16) >= 0
    assert (first.vehicle_hash(), first.verification_hash()) == (
        again.vehicle_hash(), again.verification_hash())


@pytest.mark.parametrize(("change", "vehicle_changes", "verification_changes"), [
    ("vehicle: {driver: sim, speedup: 5}\n", True, False),
    ("link: {silence_s: 3}\n", True, False),
    ("suites: {basic: {max_gap_s: 3}}\n", False, True),
    ("requirements: [mavlink]\n", False, True),
    ("waivers: [{finding: basic/test_x, reason: known, expires: 2027-06-30}]\n", False, True),
    ("strict_waivers: true\n", False, True),
    ("name: another name\ndescription: words\n", False, False),
    ("suites: {basic: {max_gap_s: 2}}\n", False, False),  # the default, and 2 == 2.0
])
def test_each_hash_follows_only_its_half(write, change, vehicle_changes, verification_changes):
    base = load_profile(write("a.yaml", HEAD + "suites: {basic: {}}\n"))
    changed = load_profile(write("b.yaml", "skyproof: 1\nextends: a.yaml\n" + change))
    assert (base.vehicle_hash() != changed.vehicle_hash()) == vehicle_changes
    assert (base.verification_hash() != changed.verification_hash()) == verification_changes


# ---- waivers ----

SIG = "security/test_out_of_range_param_set_is_rejected_or_clamped: stored-out-of-range: LAND_SPEED"
WAIVER = Waiver(SIG, "known", date(2027, 6, 30))


@pytest.mark.parametrize(("pattern", "signature", "matches"), [
    (SIG, SIG, True),
    (SIG, SIG.replace("LAND_SPEED", "FS_GCS_TIMEOUT"), False),  # another defect of the check
    (SIG, SIG + "_MAX", False),  # a pattern without `*` is the whole signature
    (SIG.replace("LAND_SPEED", "*"), SIG, True),
    ("security/test_x[channel1]: failed", "security/test_x[channel1]: failed", True),
    ("security/test_x[channel1]: failed", "security/test_x1: failed", False),  # `[` is literal
    ("security/test_x?: failed", "security/test_x1: failed", False),  # so is `?`
    ("*: vehicle-died: *", "security/test_f: vehicle-died: semantic: DO_SET_MODE", True),
])
def test_a_waiver_matches_one_finding_or_its_pattern(pattern, signature, matches):
    assert Waiver(pattern, "r", date.max).matches(signature) is matches


def test_a_waiver_is_valid_through_its_expiry_day():
    assert not WAIVER.expired(date(2027, 6, 30))
    assert WAIVER.expired(date(2027, 7, 1))


def test_profile_waivers_carry_dates(write):
    profile = load_profile(write("x.yaml", HEAD + (
        "waivers:\n"
        f"  - finding: '{SIG}'\n"
        "    reason: known\n"
        "    expires: 2027-06-30\n")))
    assert profile.waivers == [WAIVER] and profile.strict_waivers is False


def test_a_waiver_of_a_whole_check_is_refused_with_the_fix(write):
    path = write("old.yaml", HEAD + (
        "waivers:\n"
        "  - check: suites/basic/test_heartbeat.py::test_rate\n"
        "    reason: known\n"
        "    expires: 2027-06-30\n"))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    text = str(err.value)
    assert "old.yaml:5: waivers[0].check: waivers now match findings, not checks" in text, text
    assert "replace `check:` with `finding:`" in text, text


# ---- the requirement registry ----

@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_registry_has_the_ids_the_first_suite_needs(registry):
    for rid in ("MAV-HEARTBEAT", "MAV-HEARTBEAT-GAP", "MAV-PARAM", "MAV-COMMAND", "MAV-ARM",
                "GB42590-4.8", "GB42590-4.3"):
        assert registry.get(rid).id == rid
    assert registry.get("MAV-HEARTBEAT").set == "mavlink"


def test_registry_covers_every_gb42590_item_and_says_why_some_cannot_be_verified(registry):
    gb = {r.id: r for r in registry.in_sets(["gb42590"])}
    assert {f"GB42590-4.{n}" for n in range(1, 18)} | {"GB42590-A"} == set(gb)
    assert {i for i, r in gb.items() if r.verifiable} == {
        f"GB42590-4.{n}" for n in (1, 2, 3, 7, 8, 9, 11)} | {"GB42590-A"}
    assert all(r.reason for r in registry.requirements.values() if not r.verifiable)
    for rid in ("GB42590-4.11", "GB42590-A"):
        assert "to be confirmed against the standard text" in gb[rid].note


def test_registry_sets_and_in_sets(registry):
    assert {"mavlink", "gb42590", "astm-f3411"} <= set(registry.sets)
    assert registry.sets["gb42590"].source == "GB 42590-2023"
    both = registry.in_sets(["mavlink", "gb42590"])
    assert {r.set for r in both} == {"mavlink", "gb42590"}
    assert [r.id for r in both] == [i for i in registry.ids if registry.get(i) in both]


def test_registry_lookups_fail_helpfully(registry):
    with pytest.raises(KeyError) as caught:
        registry.get("MAV-HEARTBEET")
    assert str(caught.value).startswith(
        "unknown requirement ID 'MAV-HEARTBEET'; did you mean 'MAV-HEARTBEAT'?")
    with pytest.raises(KeyError, match="unknown requirement set 'gb4259'; did you mean 'gb42590'"):
        registry.in_sets(["gb4259"])


def test_a_malformed_registry_is_reported_like_a_profile(write):
    path = write("req.yaml", """
        sets:
          a: {title: A, source: a}
        requirements:
          X-1: {set: b, title: x, source: s}
          X-2: {set: a, title: y, source: s, verifiable: false}
    """)
    with pytest.raises(ProfileError) as caught:
        load_registry(path)
    assert str(caught.value).splitlines() == [
        "req.yaml:4: requirements.X-1.set: unknown value 'b'; expected one of: a",
        "req.yaml:5: requirements.X-2.reason: missing; add `reason:` under requirements.X-2",
    ]


# ---- the shipped profiles and the command line ----

def test_the_shipped_sim_profile_loads(monkeypatch):
    monkeypatch.chdir(REPO)
    profile = load_profile("profiles/sim.yaml")
    assert profile.name == yaml.safe_load((SHIPPED / "sim.yaml").read_text("utf-8"))["name"]
    assert profile.vehicle["home"] == [22.5431, 113.9425, 20.0, 0]
    assert (profile.vehicle["speedup"], profile.vehicle["seed"]) == (20, 1)
    assert profile.suites["basic"]["heartbeat_hz"] == [0.8, 1.2]
    assert {"mavlink", "gb42590"} <= set(profile.requirements)
    sources = [p.relative_to(SHIPPED).as_posix() for p in profile.sources]
    assert sources[0] == "vehicles/sim.yaml" and sources[-1] == "sim.yaml"
    assert "verify/basic.yaml" in sources  # the what-half files sit between the two


def test_every_shipped_profile_file_starts_with_the_version():
    files = [p for p in SHIPPED.rglob("*.yaml") if p.name not in ("schema.yaml",
                                                                   "requirements.yaml")]
    assert files and all(p.read_text("utf-8").startswith("skyproof: 1\n") for p in files)


def test_check_prints_ok_and_hashes(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["check", "profiles/sim.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: profiles/sim.yaml (Built-in simulator — ")
    assert re.fullmatch(r".*, vehicle [0-9a-f]{12}, verification [0-9a-f]{12}\)\n", out)


def test_check_prints_errors_and_fails(write, capsys):
    path = write("x.yaml", "skyproof: 1\nname: x\nvehicle: {driver: simm}\n")
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().err.startswith("x.yaml:3: vehicle.driver: unknown value 'simm'")


def test_python_m_profiles_check_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    run = [sys.executable, "-m", "profiles", "check"]
    good = subprocess.run([*run, "profiles/sim.yaml"], cwd=REPO, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    failed = subprocess.run([*run, "profiles/sim.yaml", str(bad)], cwd=REPO, capture_output=True,
                            text=True)
    assert failed.returncode == 1
    assert "ok: profiles/sim.yaml" in failed.stdout
    assert "bad.yaml:1: skyproof: missing" in failed.stderr
    assert "Traceback" not in failed.stderr


# ---- wall-time bounds derived from a profile (profiles/limits.py) ----
def test_wall_time_bounds_follow_the_suites_vehicle_time_and_the_speedup(write):
    from profiles.limits import CHECK_FLOOR_S, RUN_FLOOR_S, WAIT_FACTOR, check_bound, run_bound

    text = HEAD.replace("sim}", "sim, speedup: 10}") + (
        "suites:\n  failsafe: {gcs_timeout_s: 5, tolerance_s: 1, ready_timeout_s: 60,"
        " land_timeout_s: 90}\n  basic: {}\n"
    )
    profile = load_profile(write("x.yaml", text))
    own = 5 + 1 + 60 + 90 + 3  # every `_s` setting of the suite, and log_after_arming_s
    bound = check_bound(profile, "failsafe")
    assert bound.seconds == pytest.approx(CHECK_FLOOR_S + WAIT_FACTOR * own / 10)
    assert f"× {own:g} vehicle s of suites.failsafe bounds / speedup 10" in str(bound)
    slower = load_profile(write("y.yaml", text.replace("speedup: 10", "speedup: 1")))
    assert check_bound(slower, "failsafe").seconds > bound.seconds  # the same waits take longer
    run = run_bound(profile, ["failsafe", "failsafe", "basic"])
    assert run.seconds == pytest.approx(
        RUN_FLOOR_S + 2 * (bound.seconds - CHECK_FLOOR_S)
        + (check_bound(profile, "basic").seconds - CHECK_FLOOR_S)
    )  # fmt: skip
