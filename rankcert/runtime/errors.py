"""The project's error type, and other errors' text quoted on one line inside its messages (rankcert.config.entrypoint
reports the error itself as one line on stderr)."""
from __future__ import annotations


class RankcertError(Exception):
    """A problem the user can fix; shown as one line, never as a traceback."""


def one_line(err: BaseException | str) -> str:
    """An exception's (or a text's) message on one line, for error text quoted inside ours."""
    return " ".join(str(err).split())
