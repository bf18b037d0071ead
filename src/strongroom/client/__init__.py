"""A Python client of the Strongroom HTTP API v1, shaped like the library's ``Ledger``.

::

    from strongroom.client import Client

    with Client("https://ledger.example.com", api_key) as ledger:
        ledger.create_account("user:1", currency="USD")
        tx = ledger.transfer("@world", "user:1", 1000, "USD", idempotency_key="dep-1")

Methods take the arguments of the same ``Ledger`` methods and return the same
domain types (``Account``, ``Transaction``, ``Balance``, ``Page``,
``StatementLine``, ``BatchResult``); errors raise the same ``StrongroomError``
subclasses, with ``.code``. Differences, all due to what travels over HTTP:

* ``Account.sums`` are not the lifetime running sums, which the API does not
  send, but sums that reproduce the served balance exactly: a positive posted
  balance on the account's normal side, a negative one on the other side, the
  pending sums as served. ``updated_at`` is ``None``.
* ``verify()`` returns a :class:`VerifyResult` (the report without the chain
  head); ``head()`` gives the head.
* A batch item's transaction is marked ``replayed`` only when the whole batch
  was a replay (the response does not say which items replayed their own key).
* ``expire_holds`` and ``define_unit`` are the server's business, not the API's.

The client also reads the event feed (``list_events``, a page of
:class:`Event`) and manages webhooks (``create_webhook_endpoint`` and the rest,
with :class:`WebhookEndpoint` and :class:`WebhookDelivery`).

Every write the server deduplicates carries an idempotency key
(``idempotency_key=`` or a new UUID4) and is retried with the same key after a
timeout or a lost connection, so it is applied at most once however often it is
sent. The webhook writes after creation take no key; their docstrings say
whether they are resent.
"""

from strongroom.client._async import AsyncClient
from strongroom.client._calls import RetryPolicy
from strongroom.client._sync import Client
from strongroom.client._wire import (
    ApiKey,
    Event,
    VerifyResult,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "ApiKey",
    "AsyncClient",
    "Client",
    "Event",
    "RetryPolicy",
    "VerifyResult",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
