"""Supervision on the host, one module per job (docs/supervision.md):

- config: the one threshold table (DEFAULT_CONFIG) and its one conversion to raw units
- firmware: the board's firmware/supervise.py loaded in CPython (its table layout's names)
- tables: the board's int32 tables, laid out by those names
- rules: the rule compiler (DBC + config -> supervise_rules), written by `mule flash`
- reference: the board's supervision run in CPython over a log
- intervals: alerts as intervals, and the one comparison of two lists of them

What it costs on the board: host_tools/supervise_bench.py (it builds firmware with
host_tools/flash, a layer above this one)."""
