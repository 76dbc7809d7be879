"""Telemetry jobs (thin: they call services)."""
from alloyhub.platform.jobs import job

from . import services


@job("low")
def maintain():
    """Partitions ahead, retention, seq compaction (the ingest also runs it hourly)."""
    return services.maintain()
