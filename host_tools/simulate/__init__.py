"""`mule simulate` as a library: realistic CAN traffic of the test mule, with faults, and the
ground truth of what the board should make of it (docs/simulator.md).

    from host_tools.simulate import simulate
    result = simulate("highway_tow", "tow.blf", duration_s=60, seed=1, faults=["dropout:HitchLoad@30+2"])
    result.truth["expected_alerts"]
"""

from host_tools.simulate.errors import SimulateError
from host_tools.simulate.faults import KINDS, parse_fault, syntax_help
from host_tools.simulate.run import Result, simulate
from host_tools.simulate.scenarios import SCENARIOS, get_scenario
from host_tools.simulate.writer import EPOCH, FORMATS, truth_path

__all__ = ["EPOCH", "FORMATS", "KINDS", "SCENARIOS", "Result", "SimulateError", "get_scenario", "parse_fault",
           "simulate", "syntax_help", "truth_path"]
