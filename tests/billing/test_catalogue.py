"""The published catalogue: required entries, unambiguous terms, idempotent sync."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.billing.catalogue import (
    PLANS,
    SERVICES,
    catalogue_terms,
    ensure_catalogue,
    plan_spec,
    plan_spec_by_name,
    resolve_term,
    service_spec,
)
from bot.billing.errors import UnknownPlan, UnknownService
from bot.billing.models import Plan, Service
from bot.db import Store


def test_required_services_and_fees() -> None:
    ringtone = service_spec("video_ringtone")
    assert (ringtone.name, ringtone.monthly_fee_fen, ringtone.billing) == ("视频彩铃", 1000, "monthly")
    assert {"彩铃", "视频彩铃", "炫铃", "铃音", "来电视频"} <= set(ringtone.aliases)
    tencent = service_spec("tencent_video")
    assert (tencent.name, tencent.monthly_fee_fen) == ("腾讯视频会员", 1500)
    assert {"腾讯视频", "腾讯会员", "视频会员"} <= set(tencent.aliases)
    boost = service_spec("game_boost")
    assert (boost.name, boost.monthly_fee_fen) == ("游戏加速包", 600)
    assert {"游戏加速", "加速包", "游戏包"} <= set(boost.aliases)
    assert 9 <= len(SERVICES) <= 11
    assert service_spec("data_pack_10gb").monthly_fee_fen == 3000


def test_every_service_is_described_and_well_formed() -> None:
    codes = [s.code for s in SERVICES]
    assert len(codes) == len(set(codes))
    for service in SERVICES:
        assert service.billing in ("monthly", "per_use")
        assert service.monthly_fee_fen > 0
        assert service.provider
        assert service.name in service.aliases, "aliases include the name itself"
        assert len(service.description) >= 20 and service.name[:2] in service.description


def test_plans() -> None:
    names = {p.name: p for p in PLANS}
    assert set(names) == {"畅享19元套餐", "畅享39元套餐", "畅享59元套餐", "5G畅享129元合约套餐"}
    assert names["5G畅享129元合约套餐"].is_contract
    assert not any(p.is_contract for p in PLANS if p.name != "5G畅享129元合约套餐")
    fees = [p.monthly_fee_fen for p in sorted(PLANS, key=lambda p: p.monthly_fee_fen)]
    assert fees == [1900, 3900, 5900, 12900]
    allowances = [p.data_mb for p in sorted(PLANS, key=lambda p: p.monthly_fee_fen)]
    assert allowances == sorted(allowances) and allowances[0] > 0
    assert plan_spec_by_name("畅享59元套餐").code == plan_spec("changxiang_59").code


def test_unknown_codes_raise() -> None:
    with pytest.raises(UnknownService):
        service_spec("nope")
    with pytest.raises(UnknownPlan):
        plan_spec("nope")


def test_terms_cover_every_name_and_alias_once() -> None:
    terms = catalogue_terms()
    words = [t.term for t in terms]
    assert len(words) == len(set(words)), "each term means exactly one thing"
    by_word = {t.term: t for t in terms}
    for service in SERVICES:
        for word in (service.name, *service.aliases):
            assert by_word[word].code == service.code and by_word[word].kind == "service"
    for plan in PLANS:
        for word in (plan.name, *plan.aliases):
            assert by_word[word].code == plan.code and by_word[word].kind == "plan"
    assert resolve_term(" 炫铃 ").code == "video_ringtone"  # type: ignore[union-attr]
    assert resolve_term("视频会员").name == "腾讯视频会员"  # type: ignore[union-attr]
    assert resolve_term("不存在的业务") is None


def test_ensure_catalogue_is_idempotent(store: Store) -> None:
    with store.transaction() as session:
        first = ensure_catalogue(session)
    assert (first.plans_added, first.services_added) == (len(PLANS), len(SERVICES))
    with store.transaction() as session:
        second = ensure_catalogue(session)
        assert not second.changed
        assert session.scalar(select(func.count()).select_from(Service)) == len(SERVICES)
        assert session.scalar(select(func.count()).select_from(Plan)) == len(PLANS)


def test_ensure_catalogue_repairs_a_changed_row(store: Store) -> None:
    with store.transaction() as session:
        ensure_catalogue(session)
    with store.transaction() as session:
        row = session.scalars(select(Service).where(Service.code == "video_ringtone")).one()
        row.monthly_fee_fen = 1
        row.aliases = []
    with store.transaction() as session:
        sync = ensure_catalogue(session)
        assert (sync.services_updated, sync.services_added, sync.plans_updated) == (1, 0, 0)
        row = session.scalars(select(Service).where(Service.code == "video_ringtone")).one()
        assert row.monthly_fee_fen == 1000
        assert "炫铃" in row.aliases
