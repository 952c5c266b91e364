"""The one error the simulator raises for bad user input (scenario, parameter, fault spec,
output file): its message names the bad part and lists what is valid."""


class SimulateError(Exception):
    pass
