# Boot entry of the mule firmware. A board runs main.py from source (compiling costs
# heap), so it only starts app, which `mule flash` installs compiled.
# Safe mode: with a file named SAFE_MODE beside this one, or the board's USR switch held
# while it boots (a Pyboard: pyb.Switch), the firmware does not start and the REPL stays
# free (remove the file with `mpremote fs rm :SAFE_MODE`).
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


if _safe_mode():
    print("mule: safe mode (SAFE_MODE file or USR switch), firmware not started")
else:
    import app

    app.main()
