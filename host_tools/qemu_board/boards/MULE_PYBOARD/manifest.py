# Frozen into the emulated Pyboard: its start-up code only.
freeze("$(BOARD_DIR)", "_boot.py")
