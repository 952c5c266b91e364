"""The virtual CAN bus: the virtual board's machine.CAN and an slcan adapter on a pty (bus.py),
and playing a log onto any python-can bus in real time (play.py)."""
