"""The demo subscribers' numbers (bot/seed.py tells their stories) and a look-up by number."""

from __future__ import annotations

from sqlalchemy import select

from bot.billing.models import Subscriber
from bot.db import Store

ZHANG = "13800138000"  # 张伟: an unknown 视频彩铃 charge; no alerts; balance 36.50元
LI = "13900139000"  # 李娜: last month's bill unpaid, suspended
WANG = "13700137000"  # 王强: contract until 2027-06-30; balance < 30元 and spend > 150元 alerts by SMS; 210元
LIU = "13600136000"  # 刘洋: clean account, nothing blocks closure; 8GB of 30GB used; balance 120元
CHEN = "13500135000"  # 陈静: 95% of 5GB used; 游戏加速包 charged twice; balance 5.20元
ZHAO = "13400134000"  # 赵敏: an ordinary account


def subscriber_id(store: Store, phone: str) -> int:
    """The id of the subscriber with this number."""
    with store.transaction() as session:
        return int(session.scalars(select(Subscriber.id).where(Subscriber.phone == phone)).one())
