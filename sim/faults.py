"""Named faults: each turns the simulator into a known-bad vehicle in one documented way.

Adding a fault = one entry in FAULTS plus one `faults.on("name")` test at its hook.
"""

from __future__ import annotations

from collections.abc import Iterable

# name -> one-line description (shown by --list-faults). Keep it sorted by concern.
FAULTS: dict[str, str] = {
    "heartbeat_gaps": "heartbeats skip irregularly: after 2-4 beats, a gap of 3-5 s",
    "param_writes_ignored": "PARAM_SET is echoed with the OLD value; nothing changes",
    "param_float_rounded": "PARAM_SET stores a float (REAL32) parameter rounded to an integer",
    "param_echo_wrong_type": "the PARAM_SET echo says REAL32 whatever the type (reads are right)",
    "takeoff_stalls": "GUIDED take-off climbs to half the asked altitude only",
    "takeoff_overshoots": "GUIDED take-off levels off 1.5 m above the asked altitude",
    "crash_on_malformed": "the process exits with code 3 on a frame with a bad CRC",
    "crash_on_nan_mode": "the process exits on DO_SET_MODE with a NaN custom mode (as ArduPilot)",
    "crash_on_nan_param_set": "the process exits on a PARAM_SET whose value is NaN",
    "accepts_unknown_incompat": "a frame with unknown incompat flags is obeyed, not dropped",
    "crc_one_bit_off_accepted": "a frame whose CRC is one bit away from the right one is obeyed",
    "flipped_bit_repaired": "a frame whose CRC fails is 'repaired' by flipping back the one "
    "payload bit that makes the CRC fit, and obeyed",
    "msg_id_repaired": "a frame whose CRC fits another message id one bit away is taken as that "
    "message, and obeyed",
    "length_byte_repaired": "a frame whose CRC fits at a shorter length than its length byte "
    "says is taken at that length, and obeyed",
    "cut_frame_zero_filled": "a frame cut short by the next frame's start is zero-filled and "
    "obeyed without a CRC (it has none)",
    "no_gcs_failsafe": "GCS failsafe never fires, whatever FS_GCS_ENABLE says",
    "gcs_failsafe_late": "GCS failsafe fires FS_GCS_TIMEOUT + 5 s after the last GCS heartbeat",
    "gcs_failsafe_wrong_action": "GCS failsafe switches to LAND instead of the configured RTL",
    "gcs_failsafe_early": "GCS failsafe fires at 0.64 x FS_GCS_TIMEOUT (5 s: 3.2 s), just early",
    "gcs_failsafe_slightly_late": "GCS failsafe fires at 1.36 x FS_GCS_TIMEOUT (5 s: 6.8 s)",
    "gcs_failsafe_never_clears": "the GCS failsafe stays set once the link returns (no 'Cleared'): "
    "the next loss goes unhandled",
    "gcs_failsafe_any_heartbeat": "any GCS's heartbeat holds the GCS failsafe off, not only "
    "SYSID_MYGCS's",
    "fence_ignored": "geofence breaches are not acted on (no mode change, no breach report)",
    "fence_late": "a fence breach is acted on 3 s late (the vehicle flies on meanwhile)",
    "fence_wrong_action": "a fence breach always makes the vehicle LAND, whatever FENCE_ACTION "
    "says",
    "fence_status_not_reported": "a fence breach is acted on and announced, but FENCE_STATUS "
    "keeps saying breach_status 0",
    "fence_points_float32": "uploaded fence points are stored as float32 degrees (read back up "
    "to ~1 m off)",
    "battery_failsafe_never": "the battery failsafe never fires (no warning, no action), "
    "whatever BATT_LOW_VOLT / BATT_CRT_VOLT say",
    "battery_failsafe_late": "each battery failsafe stage fires 3 s after BATT_LOW_TIMER has "
    "run out",
    "battery_timer_ignored": "each battery failsafe stage fires at the first reading under its "
    "voltage (BATT_LOW_TIMER not waited for)",
    "battery_low_wrong_action": "the low-battery stage always LANDs, whatever BATT_FS_LOW_ACT "
    "says (the critical stage is right)",
    "battery_critical_ignored": "the critical stage never comes (BATT_CRT_VOLT ignored; the low "
    "stage works)",
    "battery_failsafe_silent": "the battery failsafe acts but sends no STATUSTEXT",
    "guided_alt_limit_ignored": "a GUIDED destination above the altitude fence (FENCE_ALT_MAX) "
    "is accepted and flown to",
    "guided_alt_limit_plus_3m": "a GUIDED destination above the altitude fence is accepted and "
    "flown to 3 m above FENCE_ALT_MAX (the limit checked 3 m too high)",
    "velocity_climb_ignores_alt_limit": "a GUIDED velocity climb goes on through the altitude "
    "fence (no braking under FENCE_ALT_MAX)",
    "speed_overshoot": "horizontal speed 20 % above what was asked (DO_CHANGE_SPEED, "
    "WPNAV_SPEED)",
    "gnss_failsafe_late": "the EKF failsafe of a lost GNSS fix acts 5 s late (texts and mode "
    "change together)",
    "gnss_failsafe_wrong_action": "the EKF failsafe switches to ALT_HOLD where FS_EKF_ACTION asks "
    "for LAND (and to LAND where it asks for ALT_HOLD)",
    "gnss_failsafe_silent": "the EKF failsafe acts but sends no STATUSTEXT: a lost GNSS fix is "
    "never announced (flags still show it)",
    "gnss_jam_unreported": "under SIM_GPS1_JAM the receiver repeats its last good fix and the "
    "estimator trusts inertial navigation silently: no flag, text or failsafe ever says jammed",
    "gnss_follows_spoof": "the estimator fuses every GNSS fix, however far from its own estimate "
    "(no innovation gate): the vehicle flies the spoofed offset, unflagged",
    "gnss_glitch_unreported": "a GNSS glitch is rejected (the vehicle stays put) but never "
    "reported: no GPS_GLITCHING flag, no STATUSTEXT",
    "gnss_drift_followed": "only the innovation gate (EK3_GLITCH_RAD) guards the estimate: a "
    "slow drift slips under it and is followed, unflagged (a jump is caught)",
    "accepts_unsigned": "with a signing key set, unsigned frames are still accepted on every link",
    "accepts_unsigned_param_set": "with a key set, an unsigned PARAM_SET is still accepted on "
    "every link (every other unsigned message is refused)",
    "accepts_unsigned_command_long": "with a key set, an unsigned COMMAND_LONG is still accepted "
    "on every link (every other unsigned message is refused)",
    "accepts_replay": "signed frames are accepted whatever their timestamp (replays pass)",
    "signing_clock_reset_on_reboot": "after a reboot new signing streams are judged against a "
    "clock restarted at 0 (the saved timestamp is not restored): a frame captured before the "
    "reboot is accepted again, until a genuine signed frame moves the clock",
    "accepts_bad_signature": "signatures are not compared (timestamp rules still apply)",
    "leaks_key": "after SETUP_SIGNING the key is sent in hex in a STATUSTEXT",
    "key_in_log": "on arming, the signing key is written to the vehicle's own log (as ArduPilot)",
    "signing_lockout": "pymavlink's flaw: a badly signed frame still moves its stream's timestamp",
    "signing_streams_unbounded": "no limit on signing streams (a 17th new stream is accepted)",
    "ftp_traversal": "MAVLink FTP joins a path as given: `..` walks out of the FTP root (list, "
    "read, create, remove, rename outside it), as PX4 #25808",
    "ftp_long_name_crash": "the log service copies each log-folder file name into a 60-byte "
    "buffer: a longer name (created over FTP) crashes the vehicle on LOG_REQUEST_LIST "
    "(CVE-2026-32743)",
    "ftp_resend_leaks": "an FTP request resent with the same sequence number is answered with "
    "the whole reply buffer: stale bytes beyond the cached reply's size (PX4 #28347)",
    "ftp_write_protect_bypass": "a ListDirectory makes every open FTP session writable: Open "
    "(read-only) + List + Write writes a protected file (PX4 #28349)",
    "ftp_open_wo_unprotected": "OpenFileWO forgets the write protection: a protected file "
    "(@SYS/storage.bin) opens for writing (every other operation refuses)",
    "ftp_create_unprotected": "CreateFile forgets the write protection: it empties a protected "
    "file and opens it for writing",
    "ftp_truncate_unprotected": "TruncateFile forgets the write protection of @SYS files",
    "ftp_remove_unprotected": "RemoveFile forgets the write protection: a protected file can be "
    "removed",
    "ftp_rename_onto_protected": "Rename checks its source, not its destination: a file renamed "
    "onto a protected name replaces it",
    "ftp_unsigned_key_read": "with a key set, an unsigned FILE_TRANSFER_PROTOCOL is still "
    "accepted on every link: @SYS/storage.bin (the key) reads unsigned",
    "serial_control_unsigned_shell": "with a key set, an unsigned SERIAL_CONTROL is still "
    "accepted on every link: a shell for anyone (CVE-2026-1579)",
    "param_range_unchecked": "PARAM_SET stores any finite value, out of range or not (no clamp)",
    "remote_id_silent": "the autopilot sends its Remote ID transponder nothing (no "
    "OPEN_DRONE_ID_* on DID_MAVPORT); its arming gate and warnings still work",
    "remote_id_stale": "OPEN_DRONE_ID_LOCATION repeats the first fix forever (position and "
    "timestamp stale, status live)",
    "remote_id_wrong_position": "OPEN_DRONE_ID_LOCATION is ~500 m north-east of the position",
    "remote_id_position_50m": "OPEN_DRONE_ID_LOCATION is 50 m north of the position the "
    "autopilot reports (altitude, speed, direction right)",
    "remote_id_location_0_5hz": "OPEN_DRONE_ID_LOCATION every 2 s (0.5 Hz), not every second",
    "remote_id_self_id_slow": "OPEN_DRONE_ID_SELF_ID only every other turn (every 4 s); "
    "BASIC_ID, SYSTEM and OPERATOR_ID on time",
    "remote_id_timestamp_gps_time": "the LOCATION timestamp is GPS time, not UTC: 18 s ahead "
    "(the leap seconds not taken off)",
    "remote_id_status_stuck_airborne": "once the vehicle has flown, LOCATION status stays "
    "AIRBORNE on the ground",
    "remote_id_operator_location_dropped": "SYSTEM / SYSTEM_UPDATE reach the transponder with "
    "operator latitude and longitude 0 (the ground station's location dropped)",
    "remote_id_arming_ignores_transponder": "with DID_OPTIONS enforcing it, the Remote ID "
    "pre-arm check ignores the transponder: failing or silent, it does not stop arming",
    "remote_id_arm_status_wrong_channel": "the pre-arm check listens for ARM_STATUS on channel "
    "0, not on the transponder's DID_MAVPORT: a healthy transponder is never heard",
    "remote_id_loss_reported_late": "a lost transponder (no ARM_STATUS) is warned about after "
    "9 s, not 4 s (the LOCATION status still turns at 4 s)",
    "remote_id_loss_status_unchanged": "a lost transponder is warned about, but LOCATION status "
    "stays GROUND/AIRBORNE (never REMOTE_ID_SYSTEM_FAILURE), as ArduPilot does",
    "radio_status_missing": "the radio sends no RADIO_STATUS at all (its loss model still acts)",
    "radio_status_frozen": "RADIO_STATUS repeats its first report (counters stop, rssi fixed)",
    "radio_status_slow": "RADIO_STATUS every 1.6 s (0.63 Hz) instead of every second",
    "radio_counters_per_interval": "RADIO_STATUS rxerrors / fixed count the frames of the last "
    "interval, not since boot: they step back once frames are lost (and stay 0 while none are)",
    "radio_rssi_sometimes_unknown": "every third RADIO_STATUS says rssi and remrssi 255 "
    "(unknown) though both radios hear each other",
    "radio_rssi_stuck": "RADIO_STATUS rssi / remrssi keep their first value (noise, txbuf and "
    "counters stay live): the RSSI no longer follows the distance",
    "message_interval_ignored": "SET_MESSAGE_INTERVAL is ACKed ACCEPTED but no rate changes",
    "drops_frames": "~5 % of telemetry frames are skipped after taking a sequence number",
    "slow_timesync": "TIMESYNC is answered 0.4 s of vehicle time late",
    "timesync_tc1_in_us": "TIMESYNC answered on time, ts1 echoed, but tc1 in µs, not ns",
    "slow_command_ack": "COMMAND_ACK is sent 0.8 s of vehicle time late (the command acts at once)",
    "ignores_command_retries": "COMMAND_LONG with confirmation > 0 is ignored (no ACK, no action)",
    "resends_mute_acks": "a command resent more than 30 times in 40 vehicle seconds, each copy "
    "within 1 s of the one before (a link slower than the GCS's resend timer), is no longer "
    "acknowledged (it still acts)",
    "mission_ack_not_repeated": "a resent last item after a completed upload gets no MISSION_ACK",
    "failsafe_silent": "the GCS failsafe acts but sends no STATUSTEXT (nor 'Cleared')",
    "failsafe_locks_control": "after a GCS failsafe, GCS mode changes are FAILED until disarmed",
    "param_service_stalls": "parameter reads are answered from one queue shared by every "
    "channel (20 deep, as ArduPilot's); an answer queued for a TCP channel whose peer has left "
    "holds it up: no channel gets a parameter for 8 s (a check allows 5 s)",
    "acks_lost_under_flood": "no COMMAND_ACK while the other channels bring in over 100 frames "
    "per vehicle second (the command still acts)",
}


class Faults:
    """The set of faults active in this run."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        unknown = [n for n in names if n not in FAULTS]
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(unknown)}; valid: {', '.join(sorted(FAULTS))}"
            )
        self.names: tuple[str, ...] = tuple(dict.fromkeys(names))

    def on(self, name: str) -> bool:
        # A typo at a hook would silently disable a fault: fail loudly instead.
        if name not in FAULTS:
            raise KeyError(name)
        return name in self.names

    def describe(self) -> str:
        return ",".join(self.names) if self.names else "none"


def list_lines() -> list[str]:
    width = max(len(n) for n in FAULTS)
    return [f"{name:<{width}}  {desc}" for name, desc in FAULTS.items()]
