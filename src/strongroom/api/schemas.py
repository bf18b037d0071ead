"""Request and response bodies of the HTTP API v1.

Inputs forbid unknown fields (no mass assignment) and take amounts as strict
JSON integers: ``1.0``, ``"1"`` and ``true`` are refused. Outputs list their
fields explicitly; routes fill them from the domain's ``to_dict`` forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Amount = Annotated[StrictInt, Field(gt=0, lt=2**63, description="Minor units, > 0 and < 2^63")]
Limit = Annotated[StrictInt, Field(ge=0, lt=2**63)]
AccountId = Annotated[StrictStr, Field(min_length=1, max_length=128, examples=["user:42"])]
Currency = Annotated[StrictStr, Field(min_length=1, max_length=16, examples=["USD"])]
Metadata = dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]]
Side = Literal["debit", "credit"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- inputs --------------------------------------------------------------------------


class AccountCreate(_In):
    id: AccountId | None = None
    currency: Currency
    normal_balance: Side = "credit"
    overdraft_limit: Limit | None = Field(0, description="0 by default; null: unlimited")
    metadata: Metadata | None = None


class AccountUpdate(_In):
    status: Literal["active", "frozen", "closed"] | None = None
    overdraft_limit: Limit | None = Field(None, description="null: unlimited")
    metadata: Metadata | None = None


class LineIn(_In):
    account: AccountId
    side: Side
    amount: Amount


class _TxFields(_In):
    currency: Currency
    description: Annotated[StrictStr, Field(max_length=1024)] | None = None
    metadata: Metadata | None = None
    kind: Annotated[StrictStr, Field(max_length=64)] | None = None
    pending: StrictBool = False
    timeout_seconds: Annotated[StrictInt, Field(gt=0, le=366 * 24 * 3600)] | None = None


class TransactionCreate(_TxFields):
    lines: Annotated[list[LineIn], Field(min_length=2, max_length=256)]


class TransferCreate(_TxFields):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: AccountId = Field(alias="from")
    to: AccountId
    amount: Amount


class BatchItem(TransactionCreate):
    idempotency_key: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


class BatchCreate(_In):
    transactions: Annotated[list[BatchItem], Field(min_length=1, max_length=1000)]
    atomic: StrictBool = False


class PostPending(_In):
    amount: Amount | None = Field(None, description="null or absent: the whole hold")


class ReverseCreate(_In):
    description: Annotated[StrictStr, Field(max_length=1024)] | None = None


class ApiKeyCreate(_In):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    scopes: Annotated[
        list[Literal["admin", "ledger:read", "ledger:write", "payments:write"]],
        Field(min_length=1),
    ]
    expires_at: datetime | None = None


class TenantCreate(_In):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]


# -- outputs -------------------------------------------------------------------------


class BalanceOut(BaseModel):
    posted: int
    pending_debits: int
    pending_credits: int
    available: int


class AccountOut(BaseModel):
    id: str
    currency: str
    normal_balance: Side
    status: Literal["active", "frozen", "closed"]
    overdraft_limit: int | None
    metadata: dict[str, str]
    balance: BalanceOut
    version: int
    created_at: datetime


class AccountPage(BaseModel):
    data: list[AccountOut]
    next_cursor: str | None


class AccountBalanceOut(BalanceOut):
    account: str
    currency: str
    at: datetime | None = Field(None, description="The time asked for; null for now")


class LineOut(BaseModel):
    account: str
    side: Side
    amount: int


class TransactionOut(BaseModel):
    id: str
    seq: int
    status: Literal["posted", "pending", "voided", "expired"]
    currency: str
    lines: list[LineOut]
    description: str
    metadata: dict[str, str]
    kind: str | None
    pending_amount_posted: int | None = None
    reverses: str | None = None
    expires_at: datetime | None = None
    hash: str
    created_at: datetime
    balances: dict[str, BalanceOut] | None = Field(
        None, description="On the result of a write: the balances of the accounts it touched"
    )


class TransactionPage(BaseModel):
    data: list[TransactionOut]
    next_cursor: str | None


class StatementLineOut(BaseModel):
    transaction_id: str
    seq: int
    side: Side
    amount: int
    balance_after: int
    posted_at: datetime
    description: str


class StatementPage(BaseModel):
    data: list[StatementLineOut]
    next_cursor: str | None


class ProblemOut(BaseModel):
    """An RFC 9457 problem document with Strongroom's stable code.

    Served as ``application/problem+json``. Beside these members a problem may
    carry ``instance`` (the request's path), ``request_id``, ``errors`` (on 400
    ``VALIDATION_ERROR``: ``[{"loc", "msg"}]``) and members of its code (such as
    ``account`` and ``available`` on ``INSUFFICIENT_FUNDS``).
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="https://strongroom.dev/problems/ and the code in kebab case")
    title: str = Field(description="A short summary of the code, the same for every occurrence")
    status: int = Field(description="The HTTP status code of the answer")
    detail: str = Field(description="What went wrong with this request, for a person")
    code: str = Field(description="The stable machine-readable code (UPPER_SNAKE)")


class BatchResultOut(BaseModel):
    status: int
    transaction: TransactionOut | None = None
    error: ProblemOut | None = None


class BatchOut(BaseModel):
    results: list[BatchResultOut]


class HeadOut(BaseModel):
    seq: int
    hash: str
    at: datetime | None


class DriftOut(BaseModel):
    account: str
    stored: dict[str, int]
    replayed: dict[str, int]


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    balances_ok: bool
    drift: list[DriftOut]


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    created_at: datetime


class ApiKeyCreated(ApiKeyOut):
    key: str | None = Field(
        description="The secret, shown once; null on an idempotent replay of the creation"
    )


class ApiKeyPage(BaseModel):
    data: list[ApiKeyOut]
    next_cursor: str | None


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class TenantCreated(BaseModel):
    tenant: TenantOut
    api_key: str = Field(description="A key with every scope, shown once")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    migrations: str


class EventOut(BaseModel):
    id: str = Field(examples=["evt_01JD8X2Q7Z0000000000000000"])
    type: str = Field(examples=["transaction.posted"])
    created_at: datetime
    data: dict[str, Any]


class EventPage(BaseModel):
    data: list[EventOut]
    next_cursor: str | None = Field(
        description="Pass as `after` for the next page; null when no more events exist yet"
    )


class CheckpointOut(BaseModel):
    tenant: str
    seq: int
    hash: str
    at: datetime | None = Field(description="When entry `seq` was written; null at seq 0")
    signature: str = Field(description="Ed25519 signature of `payload`, base64")
    key_id: str
    public_key: str = Field(description="The signing key's raw 32-byte public key, base64")
    payload: str = Field(
        description='The signed bytes: canonical JSON {"at","hash","seq","tenant"} (UTF-8)'
    )
    created_at: datetime


class CheckpointPage(BaseModel):
    data: list[CheckpointOut]
    next_cursor: str | None


# -- webhooks ------------------------------------------------------------------------

WebhookUrl = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=2048,
        description="http or https; its host must resolve to public addresses only, "
        "unless the operator allowed it",
        examples=["https://example.com/hooks/strongroom"],
    ),
]
EventTypes = Annotated[
    list[Annotated[StrictStr, Field(min_length=1, max_length=131)]],
    Field(
        min_length=1,
        max_length=50,
        description='["*"] for every event type, or event type names',
        examples=[["*"], ["transaction.posted", "transaction.voided"]],
    ),
]
WebhookDescription = Annotated[StrictStr, Field(max_length=200)]
EndpointStatus = Literal["enabled", "disabled"]
DeliveryStatus = Literal["pending", "succeeded", "dead"]


class WebhookEndpointCreate(_In):
    url: WebhookUrl
    events: EventTypes
    description: WebhookDescription | None = None


class WebhookEndpointUpdate(_In):
    url: WebhookUrl | None = None
    events: EventTypes | None = None
    description: WebhookDescription | None = None
    status: EndpointStatus | None = Field(None, description="enabled: re-enable after a 410")


class RotateSecret(_In):
    overlap_seconds: Annotated[StrictInt, Field(ge=0, le=604800)] | None = Field(
        None, description="How long the previous secret also signs; absent: 86400 (a day)"
    )


class WebhookEndpointOut(BaseModel):
    id: str = Field(examples=["whe_01JD8X2Q7Z0000000000000000"])
    url: str
    events: list[str]
    description: str
    status: EndpointStatus
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str | None = Field(
        description="The signing secret (whsec_...), shown once; "
        "null on an idempotent replay of the creation"
    )


class WebhookEndpointPage(BaseModel):
    data: list[WebhookEndpointOut]
    next_cursor: str | None


class WebhookAttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None = Field(description="null when no HTTP answer came")
    error: str | None
    response_excerpt: str
    duration_ms: int


class WebhookDeliveryOut(BaseModel):
    id: str = Field(examples=["whd_01JD8X2Q7Z0000000000000000"])
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempts: list[WebhookAttemptOut]


class WebhookDeliveryPage(BaseModel):
    data: list[WebhookDeliveryOut]
    next_cursor: str | None
