"""The webhook receiver of tests/webhooks, for the worker processes' deliveries."""

from tests.webhooks.conftest import receiver  # noqa: F401 - a fixture
