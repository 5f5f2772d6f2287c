"""The MAVLink connection on the vehicle's clock: `connection.Link` (one channel to a vehicle,
read in a thread, waits in vehicle time), `clock` (the vehicle's time from its time_boot_ms),
`stats` (sequence-number accounting), `tlog` (MAVProxy-style .tlog), `keys` (the signing key,
signing timestamps, redaction) and `signer` (signing one connection).

May import: pymavlink, drivers.mavlink, drivers.errors. Nothing else of drivers/.
"""
