"""What the harness asks of a vehicle over a Link, by MAVLink service: `vehicle.Vehicle`
(heartbeat, commands, modes, arming, take-off), `params` and `param_list` (the parameter
protocol), `mission` (the mission protocol), `link_quality` (TIMESYNC, command round trips,
stream rates), `radio_status` (RADIO_STATUS reports), `signing` (SETUP_SIGNING for a check),
`flavour` (what differs between ArduPilot and PX4), `flight` (fly and land for a check).

May import: drivers.link and the drivers root (mavlink, errors).
"""
