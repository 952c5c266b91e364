"""--help shows real defaults only: never "(default: None)", never a second default after a
help text that states its own (issue 13: "(default: stdout) (default: None)")."""

from __future__ import annotations

import re

import pytest

from host_tools.cli.main import SUBCOMMANDS, build_parser


@pytest.mark.parametrize("command", [m.__name__.rsplit(".", 1)[-1] for m in SUBCOMMANDS])
def test_help_has_no_empty_or_doubled_defaults(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    assert "(default: False)" not in text
    assert not re.search(r"default[^()]*\) \(default:", text), text


def test_real_defaults_still_shown(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["vboard", "--help"])
    assert "(default: 100K)" in " ".join(capsys.readouterr().out.split())


def test_counts_of_one_are_singular(tmp_path, capsys):
    # issue 13: "1 faults", "1 frames"
    from host_tools.cli.main import main
    from host_tools.text import plural

    assert main(["simulate", "trailer_sway", "--duration", "1", "--fault", "dropout:HitchLoad@0.2+0.1",
                 "-o", str(tmp_path / "one.log")]) == 0
    out = capsys.readouterr().out
    assert ": 1 fault, 1 expected alert" in out, out
    assert (plural(1, "frame"), plural(2, "frame"), plural(1144, "frame")) == ("1 frame", "2 frames", "1,144 frames")
