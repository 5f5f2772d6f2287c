"""What can go wrong between the harness and a vehicle, each with a message a person can act on."""


class VehicleError(AssertionError):
    """A vehicle did not behave as a check needs. An AssertionError, so pytest reports a
    failed check (the vehicle's fault), not an error in the harness."""


class WaitTimeout(VehicleError):
    """A condition did not come true within its bound of vehicle time."""


class VehicleSilent(VehicleError):
    """The vehicle stopped sending: its clock stopped, so no vehicle-time bound can expire."""


class VehicleLost(VehicleError):
    """The connection closed or the vehicle's process exited."""


class CommandRejected(VehicleError):
    """A COMMAND_ACK came back with a result other than ACCEPTED."""


class DriverError(RuntimeError):
    """The harness could not start or reach a vehicle (setup, not a verdict)."""


class ArmingForbidden(DriverError):
    """Arming was asked for on hardware without the run's explicit opt-in."""
