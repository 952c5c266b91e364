"""What host_tools/flash.py imports from before supervision became a package
(host_tools/supervision/): the rule compiler's entry points, nothing else."""

from host_tools.supervision.rules import RULES_MODULE, write_rules  # noqa: F401
