# Frozen into the emulated Pyboard: its start-up code, and the virtual CAN bus's machine.CAN
# (host_tools/vcan/mp; imported by _boot.py when the host attached a bus). Frozen, their
# code stays in flash, as a real board's C driver does: only their objects use the heap.
freeze("$(BOARD_DIR)", "_boot.py")
freeze("$(BOARD_DIR)/../../../vcan/mp", ("can_model.py", "machine_can.py", "mule_vcan.py"))
