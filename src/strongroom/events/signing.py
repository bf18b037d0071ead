"""Standard Webhooks signatures: ``whsec_`` secrets and the three headers.

The signature is HMAC-SHA256 over ``"{webhook-id}.{webhook-timestamp}.{body}"``
with the secret's bytes, as the spec says; the ``standardwebhooks`` library
computes it. ``webhook-id`` is the event id, the same for every attempt and
every endpoint, so receivers dedupe by it; the timestamp and signature are made
afresh for each attempt. While a rotated-out secret is still in its overlap,
both signatures are sent, space-separated, and a receiver holding either
secret accepts the delivery.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

from strongroom._version import __version__

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
SECRET_BYTES = 32
USER_AGENT = f"Strongroom-Webhooks/{__version__}"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def headers(
    message_id: str, body: bytes, at: datetime, signing_secrets: Sequence[str]
) -> dict[str, str]:
    """The headers of one attempt, signed with every secret given (newest first)."""
    text = body.decode()
    signatures = " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=at, data=text)
        for secret in signing_secrets
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
