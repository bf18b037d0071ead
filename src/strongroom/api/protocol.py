"""uvicorn's httptools protocol, answering a request it cannot parse with a problem document.

httptools (llhttp) refuses some requests before the app sees them: a control
character in a header value (a C0 byte other than HTAB, or DEL), in a header
name or in the URL; a malformed request line or header line. uvicorn then
answers a plain-text 400. :class:`ProblemHttpToolsProtocol` answers the API's
own ``400 VALIDATION_ERROR`` problem document instead, with a request id, and
closes the connection as uvicorn does.

Serve the app with ``uvicorn.Config(app, http=ProblemHttpToolsProtocol)`` or
``uvicorn.run(..., http="strongroom.api.protocol:ProblemHttpToolsProtocol")``.
Naming the protocol also keeps uvicorn from falling back to h11 where
httptools is missing: that fails at startup instead.

Bytes httptools lets through (HTAB, bytes 0x80 to 0xFF) reach the app, which
checks the headers it reads: an ``Idempotency-Key`` must be printable ASCII.
"""

from __future__ import annotations

import json
import sys

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from strongroom.api.middleware import new_request_id
from strongroom.domain.errors import ValidationError


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose answer to an unparsable request is a problem."""

    def send_400_response(self, msg: str) -> None:
        request_id = new_request_id()
        payload = problem_payload(_parser_reason() or msg, request_id)
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(payload)).encode("ascii") + b"\r\n",
                b"x-request-id: " + request_id.encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                payload,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def problem_payload(reason: str, request_id: str) -> bytes:
    """The body of the 400 answered to a request httptools could not parse."""
    error = ValidationError(f"the request is not valid HTTP/1.1: {reason}", loc=("request",))
    body = {**error.to_problem(), "request_id": request_id}
    return json.dumps(body).encode()


def _parser_reason() -> str | None:
    """What llhttp said was wrong (``Invalid header value char``...), if that is why.

    uvicorn calls ``send_400_response`` from inside its ``except HttpParserError``
    block, so the parser's exception is the one being handled.
    """
    exc = sys.exc_info()[1]
    if isinstance(exc, httptools.HttpParserError) and exc.args:
        return str(exc.args[0])[:200]
    return None
