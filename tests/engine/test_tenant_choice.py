"""Which tenant ``Ledger.open`` opens: by id or name, the default one, never a typo's."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from strongroom import Ledger, NotFound
from strongroom.access.service import Access
from strongroom.domain.errors import AlreadyExists
from strongroom.store.database import create_db_engine
from strongroom.store.migrate import downgrade, upgrade
from strongroom.store.schema import ledger_heads, tenants


@pytest.fixture
def access(db_url: str) -> Iterator[Access]:
    engine = create_db_engine(db_url)
    yield Access(engine)
    engine.dispose()


def _open(db_url: str, **kwargs: object) -> str:
    with Ledger.open(db_url, **kwargs) as ledger:  # type: ignore[arg-type]
        return ledger.tenant


def _names(access: Access) -> list[str]:
    return sorted(t.name for t in access.list_tenants().data)


def test_an_empty_database_gets_the_default_tenant(db_url: str) -> None:
    """Ledger.open on a database with no tenant creates the tenant 'default'."""
    assert _open(db_url) == "default"
    assert _open(db_url) == "default"


def test_an_empty_database_gets_the_named_tenant(db_url: str, access: Access) -> None:
    """Ledger.open(tenant=X) on a database with no tenant creates X, id and name."""
    assert _open(db_url, tenant="acme") == "acme"
    assert _names(access) == ["acme"]


def test_the_only_tenant_is_the_default(db_url: str, access: Access) -> None:
    """With one tenant, Ledger.open without a tenant opens it, whatever its name."""
    tenant, _ = access.create_tenant("acme")
    assert _open(db_url) == tenant.id
    assert _names(access) == ["acme"]


def test_a_tenant_opens_by_id_or_by_name(db_url: str, access: Access) -> None:
    """The id and the name of a tenant open the same ledger."""
    acme, _ = access.create_tenant("acme")
    access.create_tenant("beta")
    assert _open(db_url, tenant="acme") == acme.id
    assert _open(db_url, tenant=acme.id) == acme.id


def test_an_unknown_tenant_is_not_found_and_not_created(db_url: str, access: Access) -> None:
    """A typo on a database with tenants raises NOT_FOUND naming them, and creates nothing."""
    acme, _ = access.create_tenant("acme")
    with pytest.raises(NotFound) as raised:
        _open(db_url, tenant="acmee")
    assert "acmee" in raised.value.detail
    assert f"acme ({acme.id})" in raised.value.detail
    assert raised.value.extra["tenants"] == [f"acme ({acme.id})"]
    assert _names(access) == ["acme"]


def test_create_tenant_true_creates_a_new_one(db_url: str, access: Access) -> None:
    """create_tenant=True creates a tenant the database does not have yet."""
    access.create_tenant("acme")
    assert _open(db_url, tenant="beta", create_tenant=True) == "beta"
    assert _names(access) == ["acme", "beta"]


def test_create_tenant_false_never_creates(db_url: str, access: Access) -> None:
    """create_tenant=False on an empty database raises NOT_FOUND."""
    with pytest.raises(NotFound):
        _open(db_url, tenant="acme", create_tenant=False)
    assert _names(access) == []


def test_several_tenants_without_a_default_need_a_name(db_url: str, access: Access) -> None:
    """Several tenants, none called 'default': Ledger.open without a tenant is NOT_FOUND."""
    access.create_tenant("acme")
    access.create_tenant("beta")
    with pytest.raises(NotFound) as raised:
        _open(db_url)
    assert "acme" in raised.value.detail
    assert "beta" in raised.value.detail


def test_default_among_several_is_the_default(db_url: str, access: Access) -> None:
    """With several tenants, the one called 'default' opens without a tenant."""
    assert _open(db_url) == "default"
    access.create_tenant("acme")
    assert _open(db_url) == "default"


def test_tenant_names_are_unique(access: Access) -> None:
    """A second tenant with a name already taken is ALREADY_EXISTS."""
    access.create_tenant("acme")
    with pytest.raises(AlreadyExists):
        access.create_tenant("acme")
    assert _names(access) == ["acme"]


def test_a_name_may_not_be_another_tenants_id(access: Access) -> None:
    """A name equal to another tenant's id would make --tenant ambiguous: ALREADY_EXISTS."""
    acme, _ = access.create_tenant("acme")
    with pytest.raises(AlreadyExists):
        access.create_tenant(acme.id)


def test_concurrent_creations_of_one_name_make_one_tenant(access: Access) -> None:
    """Eight creations of one name at once: one tenant, the others ALREADY_EXISTS."""

    def create(_: int) -> str:
        try:
            return access.create_tenant("race")[0].id
        except AlreadyExists:
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("refused") == 7
    assert _names(access) == ["race"]


def test_the_migration_renames_duplicate_names(db_url: str) -> None:
    """Tenants that shared a name before revision 0009: the oldest keeps it."""
    engine = create_db_engine(db_url)
    try:
        downgrade(engine, "0008")
        with engine.begin() as conn:
            for i, tenant in enumerate(["tn_b", "tn_a", "tn_c"]):
                at = datetime(2026, 1, 1 + i, tzinfo=UTC)
                conn.execute(insert(tenants).values(id=tenant, name="acme", created_at=at))
                conn.execute(
                    insert(ledger_heads).values(
                        tenant_id=tenant, seq=0, hash="0" * 64, event_seq=0, updated_at=at
                    )
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = dict(conn.execute(select(tenants.c.id, tenants.c.name)).all())
    finally:
        engine.dispose()
    assert rows == {"tn_b": "acme", "tn_a": "acme (tn_a)", "tn_c": "acme (tn_c)"}
