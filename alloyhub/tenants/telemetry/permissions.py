"""The telemetry room's permissions."""
from alloyhub.platform.permissions import register

TELEMETRY_READ = register("telemetry.read", "See live values and the history of telemetry")
