"""The exit codes of `fupin` (outputs.md; `flows.cli` says what each means), and the error
that is code 2: a setting keeps a command from starting."""

OK, NEEDS_PERSON, USAGE, FAILED = 0, 1, 2, 3


class ConfigError(Exception):
    """A setting keeps a command from starting (exit code 2); the message, in Chinese, names
    the setting and says what to do."""
