"""The one exception type that the CLI turns into a one-line message."""


class KcapError(Exception):
    """Bad input or an unusable file: shown to the user as one line, exit code 2."""
