"""The simulated server's error answers: VBR's ``Error`` body with the documented codes and texts.

Texts are Veeam's own examples (OpenAPI 1.3-rev2 ``components.examples``) or the real answers the
reference quotes (§1.2, §1.3); ``resourceId`` is left out rather than sent as ``null``, which the
schema (a non-nullable string) does not allow.
"""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

__all__ = [
    "AUTH_FAILED",
    "BAD_PARAMETERS",
    "FORBIDDEN",
    "INTERNAL",
    "NOT_FOUND",
    "UNAUTHORIZED",
    "VBRHttpError",
    "error_response",
    "for_status",
    "unsupported_version",
]

#: ErrorAccessDeniedUnauthorizedExample (1.3-rev2); whether an expired token says ExpiredToken
#: instead is open question 7, so the documented example is used for every 401.
UNAUTHORIZED: Final = (401, "AccessDenied", "Unauthorized. Get bearer JWT token at /api/login")
#: A refused logon, as a real server answered an MFA account (§1.3, benyoung.blog).
AUTH_FAILED: Final = (401, "AccessDenied", "Authentication failed")
#: ErrorAccessDeniedForbiddenExample (1.3-rev2).
FORBIDDEN: Final = (403, "AccessDenied", "Forbidden")
#: ErrorUnexpectedContentExample (1.3-rev2): an invalid parameter or body.
BAD_PARAMETERS: Final = (400, "UnexpectedContent", "One or more request parameters are not valid.")
#: ErrorNotFoundExample (1.3-rev2).
NOT_FOUND: Final = (404, "NotFound", "Resource does not exist")
#: ErrorServiceUnavailableExample (1.3-rev2), the documented 500 body.
INTERNAL: Final = (
    500,
    "ServiceUnavailable",
    "The request has been received but could not be completed because of an internal error at the server side.",
)
_UNKNOWN: Final = (500, "UnknownError", "The request could not be processed.")


class VBRHttpError(Exception):
    """Raised by handlers; the middleware answers it with an Error body."""

    def __init__(self, status: int, code: str, message: str, resource_id: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.resource_id = status, code, message, resource_id

    @classmethod
    def of(cls, error: tuple[int, str, str], resource_id: str | None = None) -> VBRHttpError:
        return cls(*error, resource_id=resource_id)


def unsupported_version(supported: tuple[str, ...], lists: bool) -> VBRHttpError:
    """400 NotImplemented for a revision the build does not accept.

    Observed as HTTP 400 on the token call and as errorCode NotImplemented with the list, each
    revision prefixed with ``v`` (§1.2); 1.3-rev2's own example lists nothing.
    """
    if lists:
        text = ", ".join(f"v{r}" for r in supported)
        message = f"Unsupported RESTAPI version. The following versions are supported: {text}"
    else:
        message = "The specified API version is not supported."
    return VBRHttpError(400, "NotImplemented", message)


def for_status(status: int, message: str | None = None) -> VBRHttpError:
    """The documented error for an injected status (fault plans name only the status)."""
    known = {
        401: UNAUTHORIZED,
        403: FORBIDDEN,
        400: BAD_PARAMETERS,
        404: NOT_FOUND,
        500: INTERNAL,
        503: INTERNAL,
    }
    _, code, text = known.get(status, _UNKNOWN)
    return VBRHttpError(status, code, message or text)


def error_response(error: VBRHttpError, headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, str] = {"errorCode": error.code, "message": error.message}
    if error.resource_id:
        body["resourceId"] = error.resource_id
    return web.Response(
        status=error.status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )
