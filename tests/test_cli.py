"""Tests of lrorder.cli: every bad input of an entry point is one line and exit 2."""

from __future__ import annotations

import pytest

from lrorder import cli
from lrorder.errors import ConfigError


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m lrorder.example")
    p.add_argument("--every", type=int, required=True)
    sub = p.add_subparsers(dest="command")
    sub.add_parser("check").add_argument("--out", required=True)
    return p


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "error: python -m lrorder.example: the following arguments are required: --every (see --help)\n"),
        (["--every", "x"], "error: python -m lrorder.example: argument --every: invalid int value: 'x' (see --help)\n"),
        (["--every", "1", "check"],
         "error: python -m lrorder.example check: the following arguments are required: --out (see --help)\n"),
        (["--every", "1", "--bogus"], "error: python -m lrorder.example: unrecognized arguments: --bogus (see --help)\n"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv: list[str], expected: str, capsys) -> None:
    """Regression: argparse printed its usage block before the error (7 lines for one bad flag)."""
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == expected and captured.out == ""


def test_help_still_prints_the_usage(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["--help"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: python -m lrorder.example")


def test_run_turns_an_expected_failure_into_one_line(capsys) -> None:
    def main(argv):
        raise ConfigError("--params: expected a JSON object")

    with pytest.raises(SystemExit) as exit_:
        cli.run(main, [])
    assert exit_.value.code == 2 and capsys.readouterr().err == "error: --params: expected a JSON object\n"


def test_run_reports_an_unreadable_path_with_its_name(tmp_path, capsys) -> None:
    missing = tmp_path / "absent.json"

    def main(argv):
        missing.read_text()

    with pytest.raises(SystemExit) as exit_:
        cli.run(main, [])
    assert exit_.value.code == 2 and capsys.readouterr().err == f"error: {missing}: No such file or directory\n"
