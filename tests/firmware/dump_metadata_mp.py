# Runs inside MicroPython: print a decoder module's metadata as JSON via its public API.
# Usage: micropython dump_metadata_mp.py MODULE_DIR MODULE_NAME
import sys
import json

sys.path.insert(0, sys.argv[1])
decoder = __import__(sys.argv[2])

messages = []
for mi in range(len(decoder.MESSAGES)):
    row = decoder.MESSAGES[mi]
    signals = []
    names = decoder.signal_names(mi)
    for si in range(len(names)):
        signals.append({
            "name": names[si],
            "index": decoder.find_signal(mi, names[si]),
            "unit": decoder.signal_unit(mi, si),
            "range": decoder.signal_range(mi, si),
            "scale_offset": decoder.scale_offset(mi, si),
            "choices": decoder.signal_choices(mi, si),
            "length": decoder.kind_of(mi, si) & 0x7F,
        })
    messages.append({"name": row[decoder.M_NAME], "index": decoder.find_message(row[decoder.M_NAME]),
                     "frame_id": row[decoder.M_FRAME_ID], "ext": row[decoder.M_EXT],
                     "length": row[decoder.M_LENGTH], "cycle_ms": row[decoder.M_CYCLE_MS],
                     "lookup": decoder.lookup(row[decoder.M_FRAME_ID], row[decoder.M_EXT]),
                     "signals": signals})
print(json.dumps({"sha256": decoder.DBC_SHA256, "name": decoder.DBC_NAME,
                  "max_signals": decoder.MAX_SIGNALS, "messages": messages}))
