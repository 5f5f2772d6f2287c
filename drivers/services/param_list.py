"""The whole parameter list (PARAM_REQUEST_LIST), fetched with gap filling by index: what a bench
run snapshots before it starts and compares when it ends."""

from drivers.errors import WaitTimeout
from drivers.services import params
from drivers.services.vehicle import Vehicle


def fetch_all(vehicle: Vehicle, timeout_s: float = 60.0, idle_s: float = 2.0) -> dict[str, float]:
    """Every parameter, decoded by type. Streams the list, then asks by index for any the link
    lost; bounded by `timeout_s` vehicle seconds in all."""
    link = vehicle.link
    values: dict[int, tuple[str, float]] = {}
    count: int | None = None
    with link.subscribe(["PARAM_VALUE"]) as sub:
        link.send(link.mav.param_request_list_encode(vehicle.sysid, vehicle.compid))
        deadline = link.clock.now() + timeout_s
        quiet_until = link.clock.now() + idle_s
        while count is None or len(values) < count:
            now = link.clock.now()
            if now >= deadline:
                got = f"{len(values)} of {count}" if count is not None else "no PARAM_VALUE"
                raise WaitTimeout(f"parameter list: {got} after {timeout_s:g} s of vehicle time")
            if now >= quiet_until:  # the stream went quiet: ask for what is missing, by index
                missing = [i for i in range(count or 0) if i not in values][:20]
                for index in missing or [-1]:
                    if index < 0:
                        msg = link.mav.param_request_list_encode(vehicle.sysid, vehicle.compid)
                    else:
                        msg = link.mav.param_request_read_encode(
                            vehicle.sysid, vehicle.compid, b"", index
                        )
                    link.send(msg)
                quiet_until = now + idle_s
            item = sub.get(link.poll_s(min(deadline, quiet_until)))
            link.check_alive("the parameter list")
            if item is None or item.msg.get_srcSystem() != vehicle.sysid:
                continue
            m = item.msg
            if m.get_srcComponent() != vehicle.compid or m.param_index >= m.param_count:
                continue  # another component's list, or an answer to a read by name
            count = m.param_count
            name = params.name_of(m.param_id)
            values[m.param_index] = (
                name,
                params.decode(m.param_value, m.param_type, vehicle.bytewise_params),
            )
            vehicle.remember_type(name, m.param_type)
            quiet_until = link.clock.now() + idle_s
    return dict(values.values())


def diff(
    before: dict[str, float], after: dict[str, float]
) -> dict[str, tuple[float | None, float | None]]:
    """name -> (before, after) for every parameter that differs, appeared or vanished."""
    names = before.keys() | after.keys()
    return {
        n: (before.get(n), after.get(n))
        for n in sorted(names)
        if before.get(n) is None or after.get(n) is None or not params.same(before[n], after[n])
    }
