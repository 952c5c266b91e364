# Runs inside MicroPython: can_source's pure planners, for tests/firmware/test_can_source.py.
# Usage: micropython can_source_mp.py FIRMWARE_DIR REQUEST_JSON
# REQUEST_JSON: {"timing": [[pclk, bitrate], ...], "guard": [scenario, ...]}; prints one JSON
# object: "timing": [[prescaler, sjw, bs1, bs2] or "ValueError: ...", ...], "guard": [...].
# A guard scenario {"off_at": [ms, ...], "sticky": n, "until": ms} polls a BusGuard every
# ms: the controller goes bus-off at each off_at time (if it is active), a restart() takes
# effect only after `sticky` failed tries; the result lists [restart time, backoff waited].
import json
import sys

sys.path.insert(0, sys.argv[1])
import can_source  # noqa: E402

request = json.loads(sys.argv[2])
out = {"timing": [], "guard": []}
for pclk, bitrate in request.get("timing", []):
    try:
        out["timing"].append(list(can_source.plan_timing(pclk, bitrate)))
    except ValueError as exc:
        out["timing"].append("ValueError: " + str(exc))

for scenario in request.get("guard", []):
    guard = can_source.BusGuard(0)
    state = can_source.STATE_ACTIVE
    off_at = scenario["off_at"]
    fails = scenario.get("sticky", 0)
    restarts = []
    for t in range(scenario["until"]):
        if t in off_at:
            state = can_source.STATE_BUS_OFF
        if guard.update(state, t) == guard.RESTART:
            if fails:
                fails -= 1
            else:
                state = can_source.STATE_ACTIVE
            restarts.append([t, guard.restarted(t)])
    out["guard"].append(restarts)
print(json.dumps(out))
