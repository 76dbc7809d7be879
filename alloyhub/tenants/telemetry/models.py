"""Telemetry storage is plain SQL (migrations 0004, 0015): a table partitioned
by day, written with COPY by the ingest (storage.py), read with set-based
queries (services.py); no ORM objects per point. The tables, for reference:

- telemetry_packs (tenant_id, agent_id, hour, tag[], ts[], v[], v_text[], q[], received_at), RANGE(hour)
  daily: the points of one agent, UTC hour and ingest write as parallel arrays
- telemetry_points: a view of the packs, one row per point (tenant_id, agent_id, tag, ts, v, v_text, q,
  received_at), for reports and ad-hoc SQL
- telemetry_batches (tenant_id, agent_id, seq, points, stored_at): stored seqs above the mark
- telemetry_seq_marks (tenant_id, agent_id, low_water): every seq <= low_water is stored
- telemetry_rollup_minute / telemetry_rollup_hour (tenant_id, agent_id, tag, bucket, n, sum, min, max,
  last_ts, last_v)
- telemetry_usage_stored (tenant_id, day, points, minute_rows, hour_rows): what is stored per day of the
  points (migration 0009_billing_usage); read by the storage meter and the retention
- telemetry_usage_received (tenant_id, day, points): points stored per day of storing; the metered figure
"""
