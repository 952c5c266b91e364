"""DBC → MicroPython decoder generator: layout.py (bit arithmetic), emit.py (code text),
runtime_template.py (the fixed part of every generated module), build.py (files, mpy-cross)."""
