"""Imports every room's models so Alembic and the tests see one metadata."""
from alloyhub.platform import audit, outbox  # noqa: F401
from alloyhub.platform.billing import models as billing_models  # noqa: F401
from alloyhub.platform.db import Base
from alloyhub.platform.identity import models as identity_models  # noqa: F401
from alloyhub.platform.oauth import models as oauth_models  # noqa: F401
from alloyhub.platform.sharing import models as sharing_models  # noqa: F401
from alloyhub.tenants.agents import models as agents_models  # noqa: F401
from alloyhub.tenants.alarms import models as alarms_models  # noqa: F401
from alloyhub.spares import models as spares_models  # noqa: F401
from alloyhub.tenants.inventory import models as inventory_models  # noqa: F401
from alloyhub.tenants.equipment import models as equipment_models  # noqa: F401
from alloyhub.tenants.orders import models as orders_models  # noqa: F401
from alloyhub.tenants.products import models as products_models  # noqa: F401

metadata = Base.metadata

# Tables written and partitioned by SQL of the telemetry room, not the ORM.
UNMANAGED_TABLE_PREFIXES = ("search_documents", "telemetry_points", "telemetry_packs", "telemetry_batches",
                            "telemetry_seq_marks", "telemetry_rollup_", "telemetry_usage_")
