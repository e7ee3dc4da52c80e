"""Shared plumbing of the ``python -m lrorder.<step>`` entry points."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, NoReturn, Sequence

from lrorder.errors import ConfigError, LrOrderError


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line, like every other bad input.

    A missing or malformed flag prints ``error: <prog>: <what> (see --help)``
    on stderr and exits 2, without argparse's usage block; subcommand parsers
    (``add_subparsers``) are of this class too.
    """

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> None:
    """Call ``main(argv)``; report an expected failure as one line and exit 2.

    An :class:`~lrorder.errors.LrOrderError`, or an ``OSError`` on a path
    (missing folder, no permission, full disk), becomes ``error: <message>``
    on stderr and exit status 2; Ctrl-C exits 130 with one line. Any other
    exception propagates with its traceback, since it is a bug rather than
    bad input.
    """
    try:
        main(argv)
    except LrOrderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # a path that cannot be read or written: bad input, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted (a training run resumes from its last checkpoint when started again)", file=sys.stderr)
        sys.exit(130)


def parse_json_arg(text: str, flag: str) -> Any:
    """Parse the JSON value given to command-line flag ``flag``.

    Raises:
        ConfigError: ``text`` is not valid JSON.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{flag}: expected a JSON value ({exc.msg} at char {exc.pos})") from None
