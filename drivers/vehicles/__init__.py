"""Starting, watching and stopping vehicles: the built-in simulator (`sim_driver`), ArduPilot
and PX4 SITL (`ardupilot_sitl`, `px4_sitl`, on `sitl_process`), a vehicle someone else runs
(`endpoint`), a lab bench (`bench`), and `probe` (a first HEARTBEAT on a raw socket, to decide
readiness without a Link). drivers.make_driver picks one by the profile's `vehicle.driver`.

May import: drivers.services, drivers.link and the drivers root (mavlink, errors, process,
ports).
"""
