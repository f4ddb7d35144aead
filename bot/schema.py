"""Imports every model module so ``Base.metadata`` knows all tables (for Alembic and tests)."""

from bot import audit  # noqa: F401
from bot.billing import models as billing_models  # noqa: F401
from bot.handoff import models as handoff_models  # noqa: F401
from bot.identity import models as identity_models  # noqa: F401
from bot.metrics import models as metrics_models  # noqa: F401
from bot.models import Base
from bot.notifications import models as notifications_models  # noqa: F401
from bot.review import models as review_models  # noqa: F401

metadata = Base.metadata
