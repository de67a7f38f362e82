"""The one exception the deadline package raises for invalid input."""

from __future__ import annotations


class DeadlineError(ValueError):
    """A deadline cannot be computed as asked.

    Raised for a refused extension, an urgent track the rule does not have, a pause on a rule
    that cannot be paused, pauses that overlap or begin after the deadline expired, an
    unsupported country, and similar caller errors. The message is English and meant for logs;
    the web layer translates its own message for the user.
    """
