"""Degrading the link on purpose: the impairment proxy (`proxy`, a handle on a relay process:
`proxy_relay`, `proxy_sockets`, `proxy_time`), the impairments it applies (`impairment`),
kernel netem in a network namespace (`netem`), and cutting the ground station's uplink for the
failsafe checks (`uplink`).

May import: drivers.services, drivers.link and the drivers root (mavlink, errors, process).
"""
