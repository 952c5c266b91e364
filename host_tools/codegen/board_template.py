# The board's profile of the decoder (mule flash): common_template.py, then this, then its
# start-up readers (board_kinds_template.py, or board_tab_template.py with the table walker),
# then the tables: decoding and what the firmware reads at start-up, no names, units, value
# tables or scales (the host has the DBC). docs/decoder.md.


def decode(can_id, ext, data, lanes, selected):  # bytecode: the firmware calls DECODERS' functions
    return table_decode(can_id | _EXT_KEY if ext else can_id, data, lanes, selected, len(data))
