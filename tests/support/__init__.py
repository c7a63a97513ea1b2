"""Test support: real loopback servers (webhook, SMTP), a fillable tmpfs, and their pytest fixtures.

Register the fixtures and the open-SQLite-connection check once in ``tests/conftest.py``::

    pytest_plugins = ["support.fixtures", "support.resources"]
"""

from .smtp import ReceivedMail, SmtpServer
from .webhook import ReceivedRequest, Reply, WebhookCollector

__all__ = ["ReceivedMail", "ReceivedRequest", "Reply", "SmtpServer", "WebhookCollector"]
