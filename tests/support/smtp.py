"""A real SMTP server on loopback (aiosmtpd) that records messages and answers from a script.

The port is chosen when the object is made, so ``.url`` is valid before ``start()``: a test can
send while the server is down (connection refused), then ``start()`` it and send again.

    with SmtpServer() as smtp:
        ... send to smtp.url ...
        msg = smtp.messages[0]            # email.message.EmailMessage
        assert msg["Subject"] == "..."

apprise URL (checked with apprise 2.3.0): ``mailto://127.0.0.1:PORT?from=...&to=...&mode=insecure``.
No user/password: apprise then skips AUTH, which a plain aiosmtpd server does not offer (with
credentials apprise fails: "SMTP AUTH extension not supported by server"). With
``SmtpServer(auth=("user", "pass"))`` the server offers AUTH over plain text (loopback only),
rejects wrong credentials with 535, and ``.url`` carries the credentials.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

FROM_ADDR = "alertd@example.com"
TO_ADDR = "ops@example.com"


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One accepted message: SMTP envelope plus the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        return self._server._on_rcpt(envelope, address)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self._server._on_data(envelope)


class SmtpServer:
    """Loopback SMTP server recording accepted mail; scripted DATA and RCPT replies (e.g. ``451 ...``)."""

    def __init__(
        self,
        responses: Iterable[str] = (),
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        auth: tuple[str, str] | None = None,
        from_addr: str = FROM_ADDR,
        to_addr: str = TO_ADDR,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.auth = auth
        self.from_addr = from_addr
        self.to_addr = to_addr
        self.mails: list[ReceivedMail] = []
        #: DATA commands seen, accepted or not (a scripted 451 counts).
        self.attempts = 0
        self._script: deque[str] = deque()
        self._rcpt_script: deque[str] = deque()
        self.script(*responses)
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """apprise ``mailto://`` URL for this server (plain SMTP, no TLS)."""
        creds = ""
        if self.auth:
            creds = f"{quote(self.auth[0], safe='')}:{quote(self.auth[1], safe='')}@"
        return (
            f"mailto://{creds}{self.host}:{self.port}?from={self.from_addr}&to={self.to_addr}&mode=insecure"
        )

    @property
    def messages(self) -> list[EmailMessage]:
        """Accepted messages, parsed (``email.policy.default``), in order."""
        return [m.message for m in self.mails]

    def script(self, *responses: str) -> None:
        """Queue SMTP replies for the next DATA commands (``"451 4.3.0 Try later"``), then 250."""
        self._script.extend(responses)

    def script_rcpt(self, *responses: str) -> None:
        """Queue SMTP replies for the next RCPT commands (``"550 5.1.1 No such user"``), then 250."""
        self._rcpt_script.extend(responses)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Block until ``count`` messages were accepted."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.mails) >= count, timeout):
                raise TimeoutError(f"SMTP server got {len(self.mails)} messages, expected {count}")
            return self.messages

    def start(self) -> None:
        """Start accepting connections on ``self.port`` (again after ``stop()``)."""
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {}
        if self.auth:
            # Offered, not required: aiosmtpd warns about required AUTH without TLS, and
            # filterwarnings=error would turn that into a failure. Wrong credentials get 535.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        # A Controller's loop is closed on stop, so each start gets a new one.
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            # Fixed name: aiosmtpd would otherwise call socket.getfqdn(), slow without DNS.
            server_hostname="smtp.test.invalid",
            ready_timeout=5.0,
            **kwargs,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop the server; the port refuses connections afterwards."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        """True while the server accepts connections."""
        return self._controller is not None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- server callbacks (aiosmtpd's thread) -------------------------------------------------

    def _on_data(self, envelope: Any) -> str:
        with self._cond:
            self.attempts += 1
            reply = self._script.popleft() if self._script else "250 Message accepted for delivery"
            if reply.startswith("2"):
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                self.mails.append(ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
                self._cond.notify_all()
            return reply

    def _on_rcpt(self, envelope: Any, address: str) -> str:
        with self._cond:
            reply = self._rcpt_script.popleft() if self._rcpt_script else "250 OK"
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
        return reply

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.auth is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self.auth
        )
        return AuthResult(success=ok, handled=False)
