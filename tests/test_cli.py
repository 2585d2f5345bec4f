"""The command line, end to end."""

import subprocess
import sys

import pytest

from optprior.cli import main


def test_demo_prints_a_table(capsys):
    assert main(["demo", "--quiet", "--epochs", "2", "--samples", "5"]) == 0
    out = capsys.readouterr().out
    for method in ("| vae |", "| cvae |", "| optimal |"):
        assert method in out
    assert "test ln p(x|s)" in out


def test_unknown_method_is_named(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--methods", "vae,gan"])
    assert "unknown method(s) ['gan']" in capsys.readouterr().err


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "optprior.cli", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--methods" in result.stdout and "download" in result.stdout
