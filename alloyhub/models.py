"""Imports every room's models so Alembic and the tests see one metadata."""
from alloyhub.platform import audit, outbox  # noqa: F401
from alloyhub.platform.db import Base
from alloyhub.platform.identity import models as identity_models  # noqa: F401
from alloyhub.platform.oauth import models as oauth_models  # noqa: F401
from alloyhub.tenants.agents import models as agents_models  # noqa: F401

metadata = Base.metadata
