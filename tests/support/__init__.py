"""Test support: real loopback servers (webhook, SMTP) and their pytest fixtures.

Register the fixtures once in ``tests/conftest.py``::

    pytest_plugins = ["support.fixtures"]
"""

from .smtp import ReceivedMail, SmtpServer
from .webhook import ReceivedRequest, Reply, WebhookCollector

__all__ = ["ReceivedMail", "ReceivedRequest", "Reply", "SmtpServer", "WebhookCollector"]
