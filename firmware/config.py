# Board configuration: mule_config.json beside main.py (written by `mule flash`), over
# defaults. settings.py holds the table of settings, their types and ranges (the host
# checks `mule flash` settings with the same file): a missing or bad file, or a bad value,
# means the default, and the LOG after HELLO says which and why.
import sys


def load(path="mule_config.json"):
    """(config, problem): problem is None, or what of the file was not used and why."""
    import settings  # the table and its checks: only for this call (RAM is the budget)

    try:
        return settings.load(path)
    finally:
        del sys.modules["settings"]
