"""Hostile traffic toward a vehicle: raw frames and their mutations (`frames`, also a command:
`python -m drivers.attack.frames replay FILE URL`), a second station holding the key (`peer`),
a flooder (`flooder`), hypothesis strategies of hostile input (`strategies`), judging refusal by
effect (`probes`) and the fuzzer's view of a vehicle (`fuzz_target`).

May import: drivers.services, drivers.link and the drivers root (mavlink, errors).
"""
