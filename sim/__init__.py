"""skyproof's built-in MAVLink vehicle simulator: a multicopter reached only over sockets.

Run it with `python -m sim --help`. It knows nothing of pytest, profiles or drivers.
"""
