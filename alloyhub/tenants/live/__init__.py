"""Live values and trends of an agent's tags (pages only; the data comes
from the telemetry room)."""
