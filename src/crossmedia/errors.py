"""Error types. A :class:`UserError` is a mistake in the user's input (a missing file,
a bad value, a malformed config): the CLI prints its message as one line ``error: ...``
and exits with status 2. Anything else is a bug and keeps its traceback."""


class UserError(Exception):
    """A problem with user input; the message names the file/field and what was expected."""


class DataError(UserError):
    """A dataset, manifest or protocol file is missing, malformed or inconsistent."""


class ConfigError(UserError):
    """A config file or a ``--set key=value`` override is malformed or names an unknown key."""
