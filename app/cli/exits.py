"""The `capstan` command's exit statuses, one per kind of outcome a script may act on."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    OK = 0
    ERROR = 1  # anything else: a failed deployment, an invalid field, a server error
    USAGE = 2  # a wrong command line or a setting Capstan cannot use
    NOT_FOUND = 3  # no such project, deployment, secret, user or token (404)
    CONFLICT = 4  # the state forbids it: exists already, not awaiting approval (409)
    DENIED = 5  # not signed in, or not allowed (401, 403)
    UNAVAILABLE = 6  # the server cannot be reached, or a dependency is down (503, 429)


def for_status(status: int) -> Exit:
    """The exit status for an HTTP status the server answered (or an AppError's)."""
    if status == 404:
        return Exit.NOT_FOUND
    if status == 409:
        return Exit.CONFLICT
    if status in (401, 403):
        return Exit.DENIED
    if status in (429, 503):
        return Exit.UNAVAILABLE
    return Exit.ERROR


HELP = """\
Exit status
   0 ok   1 error   2 usage   3 not found   4 conflict   5 not signed in or not allowed
   6 server unreachable or unavailable
"""
