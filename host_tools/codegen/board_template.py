# The board's profile of the decoder (mule flash): common_template.py, then this, then its
# start-up readers (board_kinds_template.py, or board_tab_template.py with the table walker),
# then the tables: decoding and what the firmware reads at start-up, no names, units, value
# tables or scales (the host has the DBC). docs/decoder.md.
# No decode() and no DBC_NAME: the firmware calls DECODERS' functions and table_decode, and
# names the DBC by DBC_SHA256 (each name a module holds is heap a board keeps).
