"""Edge agents, their tags, ingestion of their telemetry, rollups and alarms."""
