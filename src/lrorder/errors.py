"""The expected failures of lr-order.

Entry points turn these into one line on stderr and a non-zero exit
(:func:`lrorder.cli.run`); any other exception is a bug and keeps its
traceback.
"""


class LrOrderError(Exception):
    """Base class of every expected failure (bad input, not a bug)."""


class ConfigError(LrOrderError):
    """A configuration value is missing, misspelled, of the wrong type or out of range.

    The message names the key (dotted path) and what is expected.
    """


class DataError(LrOrderError):
    """A data file is missing, corrupted or does not match its manifest.

    The message names the file and what was expected.
    """
