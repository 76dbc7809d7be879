"""The alarms room's permissions (registered at import time)."""
from alloyhub.platform.permissions import register

ALARMS_READ = register("alarms.read", "See alarms and their history")
ALARMS_ACK = register("alarms.ack", "Acknowledge and shelve alarms")
ALARMS_CONFIGURE = register("alarms.configure", "Configure alarm rules and maintenance windows")
