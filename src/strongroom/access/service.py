"""Tenants and API keys: creation, authentication, listing and revocation."""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from strongroom.access import keys
from strongroom.access.cache import CachedKey, KeyCache
from strongroom.domain.accounts import _rfc3339, is_text
from strongroom.domain.clock import Clock, SystemClock
from strongroom.domain.errors import (
    AlreadyExists,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationError,
)
from strongroom.domain.ids import new_id
from strongroom.engine.ledger import Ledger
from strongroom.engine.pages import Page, check_limit, decode_cursor, page_of
from strongroom.engine.uow import UnitOfWork
from strongroom.store import access as sql
from strongroom.store import queries as q
from strongroom.store.database import read_connection, write_connection

_CACHE_LOOKUPS = Counter(
    "strongroom_api_key_cache_lookups_total",
    "API keys looked up in the key cache: found (hit), not there (miss), or not asked "
    "because no read of the revocation epoch is recent enough (stale)",
    ["result"],
)
_CACHE_HITS, _CACHE_MISSES, _CACHE_STALE = (
    _CACHE_LOOKUPS.labels(result) for result in ("hit", "miss", "stale")
)
LAST_USE_RESOLUTION = timedelta(seconds=60)
"""A key's last use is recorded at most once a minute (a write per request otherwise)."""
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as listed: never its secret."""

    id: str
    tenant: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        def t(v: datetime | None) -> str | None:
            return None if v is None else _rfc3339(v)

        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "expires_at": t(self.expires_at),
            "revoked_at": t(self.revoked_at),
            "last_used_at": t(self.last_used_at),
            "created_at": _rfc3339(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant's key and its scopes."""

    tenant: str
    key_id: str
    scopes: tuple[str, ...]

    def require(self, scope: str) -> None:
        if not keys.grants(self.scopes, scope):
            raise Forbidden(f"this API key lacks the scope {scope!r}", scope=scope)


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": _rfc3339(self.created_at)}


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """A tenant as ``strongroom tenants show`` reports it."""

    tenant: Tenant
    head_seq: int
    head_hash: str | None
    live_keys: int
    keys: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.tenant.to_dict(),
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "api_keys": {"active": self.live_keys, "total": self.keys},
        }


def _tenant(row: Row[Any]) -> Tenant:
    return Tenant(row.id, row.name, row.created_at)


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"a tenant called {name!r} exists already", name=name)


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant=row.tenant_id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(json.loads(row.scopes)),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        created_at=row.created_at,
    )


def _key_from_dict(body: dict[str, Any]) -> ApiKey:
    def t(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))

    created = t(body["created_at"])
    assert created is not None
    return ApiKey(
        id=body["id"],
        tenant=body["tenant"],
        name=body["name"],
        prefix=body["prefix"],
        scopes=tuple(body["scopes"]),
        expires_at=t(body["expires_at"]),
        revoked_at=t(body["revoked_at"]),
        last_used_at=t(body["last_used_at"]),
        created_at=created,
    )


def _name(value: Any) -> str:
    if not is_text(value) or not 0 < len(value.strip()) <= MAX_NAME:
        raise ValidationError(f"name is 1 to {MAX_NAME} characters", loc=("name",))
    return value.strip()


class Access:
    """Tenants and keys on one database."""

    def __init__(
        self, engine: Engine, clock: Clock | None = None, *, cache_keys: bool = False
    ) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.cache: KeyCache | None = (
            KeyCache(self.clock, touch_every=LAST_USE_RESOLUTION) if cache_keys else None
        )

    def _begin(self) -> Any:
        return write_connection(self.engine)

    def create_tenant(self, name: str) -> tuple[Tenant, str]:
        """A new tenant with its ledger, and a first key holding every scope (shown once).

        Names are unique, and no name is another tenant's id: ALREADY_EXISTS.
        """
        tenant = Tenant(new_id("tn"), _name(name), self.clock.now())
        try:
            with self._begin() as conn, conn.begin():
                if sql.find_tenant(conn, tenant.name) is not None:
                    raise _name_taken(tenant.name)
                q.insert_tenant(conn, tenant.id, tenant.name, tenant.created_at)
                secret = self._insert_key(conn, tenant.id, "initial key", keys.SCOPES, None)[1]
        except IntegrityError:  # a concurrent creation of the same name committed first
            raise _name_taken(tenant.name) from None
        return tenant, secret

    def has_tenants(self) -> bool:
        with self.engine.connect() as conn:
            return sql.count_tenants(conn) > 0

    def list_tenants(self, *, limit: int = 100, cursor: str | None = None) -> Page[Tenant]:
        """Every tenant of the database, in id order."""
        limit = check_limit(limit)
        after = decode_cursor(cursor, "tenants")
        with read_connection(self.engine) as conn:
            rows = sql.list_tenants(conn, after=after, limit=limit + 1)
        return page_of([_tenant(r) for r in rows], limit, "tenants", lambda t: t.id)

    def tenant(self, ref: str) -> TenantInfo:
        """The tenant whose id or name is ``ref``, with its ledger's head and its keys."""
        with read_connection(self.engine) as conn:
            row = sql.find_tenant(conn, ref) if is_text(ref) else None
            if row is None:
                raise NotFound(f"no tenant {ref!r}")
            head = q.read_head(conn, row.id)
            live, made = sql.count_keys(conn, row.id, self.clock.now())
        return TenantInfo(
            tenant=_tenant(row),
            head_seq=0 if head is None else head.seq,
            head_hash=None if head is None else head.hash,
            live_keys=live,
            keys=made,
        )

    def create_key(
        self,
        tenant: str,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[ApiKey, str | None]:
        """A new key for ``tenant``; the secret is returned here and never again.

        Replaying ``idempotency_key`` returns the same key with ``None`` for the
        secret: a secret is shown once, even to the caller who created it.
        """
        checked = keys.check_scopes(list(scopes))
        clean = _name(name)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValidationError("expires_at needs a time zone", loc=("expires_at",))
            if expires_at <= self.clock.now():
                raise ValidationError("expires_at is in the past", loc=("expires_at",))
        request = {
            "name": clean,
            "scopes": list(checked),
            "expires_at": None if expires_at is None else _rfc3339(expires_at),
        }
        created: dict[str, str] = {}

        def insert(uow: UnitOfWork) -> ApiKey:
            key, secret = self._insert_key(uow.connection, tenant, clean, checked, expires_at)
            created["secret"] = secret
            return key

        def work(uow: UnitOfWork) -> ApiKey:
            created.clear()
            return uow.idempotent(
                idempotency_key,
                "create_api_key",
                request,
                lambda: insert(uow),
                lambda key: key.to_dict() | {"tenant": key.tenant},
                _key_from_dict,
            )

        key = Ledger(self.engine, tenant=tenant, clock=self.clock).transact(work)
        return key, created.get("secret")

    def _insert_key(
        self,
        conn: Any,
        tenant: str,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None,
    ) -> tuple[ApiKey, str]:
        secret = keys.generate()
        key = ApiKey(
            id=new_id("key"),
            tenant=tenant,
            name=name,
            prefix=keys.display_prefix(secret),
            scopes=tuple(scopes),
            expires_at=expires_at,
            revoked_at=None,
            last_used_at=None,
            created_at=self.clock.now(),
        )
        sql.insert_key(
            conn,
            {
                "tenant_id": tenant,
                "id": key.id,
                "name": key.name,
                "prefix": key.prefix,
                "key_hash": keys.digest(secret),
                "scopes": key.scopes,
                "expires_at": expires_at,
                "created_at": key.created_at,
            },
        )
        return key, secret

    def list_keys(
        self, tenant: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[ApiKey]:
        limit = check_limit(limit)
        after = decode_cursor(cursor, "api_keys")
        with self.engine.connect() as conn:
            rows = sql.list_keys(conn, tenant, after=after, limit=limit + 1)
        return page_of([_key(r) for r in rows], limit, "api_keys", lambda k: k.id)

    def revoke(self, tenant: str, key_id: str) -> ApiKey:
        """Revoke at once; another tenant's key id answers NOT_FOUND."""
        if not is_text(key_id):
            raise NotFound("API key not found")
        with self._begin() as conn, conn.begin():
            row = sql.revoke_key(conn, tenant, key_id, self.clock.now())
        if self.cache is not None:
            self.cache.clear()
        if row is None:
            raise NotFound(f"API key {key_id!r} not found")
        return _key(row)

    def cached(self, secret: str) -> Principal | None:
        """The principal of a key from the key cache, without I/O (see :mod:`.cache`).

        None means "not known here": call :meth:`authenticate`. A malformed key
        answers UNAUTHENTICATED at once.
        """
        cache = self.cache
        if cache is None:
            return None
        if not keys.well_formed(secret):
            raise Unauthenticated("malformed API key")
        found = cache.get(keys.digest(secret))
        if found is None:
            (_CACHE_MISSES if cache.fresh() else _CACHE_STALE).inc()
            return None
        _CACHE_HITS.inc()
        return Principal(found.tenant, found.key_id, found.scopes)

    def refresh_revocations(self, conn: Connection | None = None) -> None:
        """Read the revocation epoch, so the key cache forgets keys revoked elsewhere.

        On ``conn`` when given (a :func:`read_connection` the caller keeps for its
        reads: the server's watcher waits for no connection of the pool), else on
        one from the pool. The read's start is taken once the connection is in
        hand, just before the query is sent (see :mod:`.cache`).
        """
        cache = self.cache
        if cache is None:
            return
        if conn is None:
            with read_connection(self.engine) as own:
                self.refresh_revocations(own)
            return
        started = cache.monotonic()
        epoch = sql.revocation_epoch(conn)
        conn.rollback()  # SQLite: end the read, or the next one would see its snapshot
        cache.saw_epoch(epoch, started)

    def authenticate(self, secret: str) -> Principal:
        """The principal of a presented key; UNAUTHENTICATED for anything not valid now."""
        if not keys.well_formed(secret):
            raise Unauthenticated("malformed API key")
        presented = keys.digest(secret)
        epoch = None if self.cache is None else self.cache.epoch
        with read_connection(self.engine) as conn:
            row = sql.key_by_hash(conn, presented)
        if row is None or not hmac.compare_digest(row.key_hash, presented):
            raise Unauthenticated("unknown API key")
        now = self.clock.now()
        if row.revoked_at is not None:
            raise Unauthenticated("this API key was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated("this API key has expired")
        used = row.last_used_at
        if used is None or used < now - LAST_USE_RESOLUTION:
            with self._begin() as conn, conn.begin():
                sql.touch_key(conn, row.tenant_id, row.id, now, now - LAST_USE_RESOLUTION)
            used = now
        scopes = tuple(json.loads(row.scopes))
        if self.cache is not None:
            found = CachedKey(row.tenant_id, row.id, scopes, row.expires_at, used)
            self.cache.put(presented, found, epoch)
        return Principal(row.tenant_id, row.id, scopes)


def admin_token_matches(configured: str | None, presented: str) -> bool:
    """Constant-time check of the platform admin token; never matches when unset."""
    if not configured:
        return False
    return hmac.compare_digest(configured.encode(), presented.encode())
