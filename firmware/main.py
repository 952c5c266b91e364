# Boot entry of the mule firmware. A board runs main.py from source (compiling costs
# heap), so it only starts app, which `mule flash` installs compiled.
# Safe mode: with a file named SAFE_MODE beside this one, or the board's USR switch held
# while it boots (a Pyboard: pyb.Switch), the firmware does not start and the REPL stays
# free (remove the file with `mpremote fs rm :SAFE_MODE`). A firmware that fails also
# returns to the REPL, after printing why (the traceback).
import micropython

try:
    micropython.alloc_emergency_exception_buf(100)  # tracebacks from interrupts, even out of heap
except AttributeError:
    pass  # the unix port (virtual board) has none


def _safe_mode():
    try:
        open("SAFE_MODE").close()
        return True
    except OSError:
        pass
    try:
        import pyb

        return bool(pyb.Switch()())  # USR held at boot
    except (ImportError, AttributeError):  # no pyb (unix port) or no switch on this board
        return False


def _stopped(exc):
    # Whatever stops the firmware (a missing or corrupt module, MemoryError at import, an
    # error in app.main): say why and return to the REPL, so mpremote still gets in and
    # `mule flash` (which shows this text when no HELLO comes) can repair the board.
    import gc
    import sys

    gc.collect()
    try:
        print("mule: the firmware stopped:")
        sys.print_exception(exc)
        print("mule: the REPL is free (`mule flash` reinstalls the firmware)")
    except MemoryError:
        print("mule: the firmware stopped: out of memory")


if _safe_mode():
    print("mule: safe mode (SAFE_MODE file or USR switch), firmware not started")
else:
    try:
        import app

        app.main()
    except Exception as exc:  # not KeyboardInterrupt: Ctrl-C at the REPL stays as it is
        _stopped(exc)
