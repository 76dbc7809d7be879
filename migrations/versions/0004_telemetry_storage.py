"""telemetry storage: time-partitioned points, batch dedupe, minute/hour rollups

Revision ID: 0004
Revises: 0003

Points live in `telemetry_points`, RANGE-partitioned by day on `ts`. The
partitions are made by `telemetry_ensure_partitions(from, to)` and dropped by
`telemetry_drop_partitions(before)`: SECURITY DEFINER functions owned by the
migration role, because the application role may create no table. Each
partition gets the same RLS policy as the parent (RLS is per table: reads
through the parent use the parent's policy, a partition named directly uses
its own) and the application role loses every privilege on it, so the parent
is the only way in.

The ingest process writes across tenants in one transaction (one COPY for the
batches of many agents), so the telemetry tables admit `app_is_system()`
beside the tenant; the tenant of each row comes from the agents table, never
from the payload. It also reads `agents` in system context to map an agent to
its tenant: the `telemetry_ingest_lookup` policy allows exactly that (SELECT
only).
"""
from alembic import op

from alloyhub.platform import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP = rls.APP_DB_ROLE
TENANT_OR_SYSTEM = "tenant_id = app_tenant_id() OR app_is_system()"
TABLES = ["telemetry_points", "telemetry_batches", "telemetry_seq_marks",
          "telemetry_rollup_minute", "telemetry_rollup_hour"]

ROLLUP = """
CREATE TABLE {name} (
    tenant_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    tag varchar(200) NOT NULL,
    bucket timestamptz NOT NULL,
    n bigint NOT NULL,
    sum double precision,
    min double precision,
    max double precision,
    last_ts timestamptz NOT NULL,
    last_v double precision,
    CONSTRAINT pk_{name} PRIMARY KEY (agent_id, tag, bucket)
);
CREATE INDEX ix_{name}_tenant_id ON {name} (tenant_id);
CREATE INDEX ix_{name}_bucket ON {name} (bucket);
"""

FUNCTIONS = f"""
CREATE FUNCTION telemetry_ensure_partitions(from_day date, to_day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  d date;
  name text;
  made integer := 0;
BEGIN
  -- One maker at a time: two ingest processes may want the same day.
  PERFORM pg_advisory_xact_lock(hashtext('telemetry_ensure_partitions'));
  d := from_day;
  WHILE d <= to_day LOOP
    name := 'telemetry_points_p' || to_char(d, 'YYYYMMDD');
    IF to_regclass(name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF telemetry_points FOR VALUES FROM (%L) TO (%L)',
                     name, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
      EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
      EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
      EXECUTE format('CREATE POLICY tenant_isolation ON %I USING ({TENANT_OR_SYSTEM}) WITH CHECK ({TENANT_OR_SYSTEM})', name);
      EXECUTE format('REVOKE ALL ON %I FROM {APP}', name);
      made := made + 1;
    END IF;
    d := d + 1;
  END LOOP;
  RETURN made;
END $$;

CREATE FUNCTION telemetry_drop_partitions(before_day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  r record;
  dropped integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('telemetry_ensure_partitions'));
  FOR r IN SELECT c.relname FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent
           WHERE p.relname = 'telemetry_points' AND c.relname ~ '^telemetry_points_p[0-9]{{8}}$'
  LOOP
    IF to_date(substr(r.relname, 19), 'YYYYMMDD') < before_day THEN
      EXECUTE format('DROP TABLE %I', r.relname);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END $$;

REVOKE ALL ON FUNCTION telemetry_ensure_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION telemetry_drop_partitions(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION telemetry_ensure_partitions(date, date) TO {APP};
GRANT EXECUTE ON FUNCTION telemetry_drop_partitions(date) TO {APP};
"""


def upgrade() -> None:
    op.execute("""
CREATE TABLE telemetry_points (
    tenant_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    tag varchar(200) NOT NULL,
    ts timestamptz NOT NULL,
    v double precision,
    v_text text,
    q smallint NOT NULL DEFAULT 0,
    received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);
-- The one index: every read names the agent (RLS adds the tenant); a second
-- index would cost the ingest about a third of its write speed.
CREATE INDEX ix_telemetry_points_agent_tag_ts ON telemetry_points (agent_id, tag, ts);

-- Every batch stored, per agent, above the agent's low-water mark: a batch
-- is recorded in the transaction that stores its points.
CREATE TABLE telemetry_batches (
    tenant_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    seq bigint NOT NULL,
    points integer NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_telemetry_batches PRIMARY KEY (agent_id, seq)
);
CREATE INDEX ix_telemetry_batches_tenant_id ON telemetry_batches (tenant_id);

-- Every seq <= low_water is stored; compaction advances it over the
-- contiguous run and deletes those rows from telemetry_batches.
CREATE TABLE telemetry_seq_marks (
    tenant_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    low_water bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_telemetry_seq_marks PRIMARY KEY (agent_id)
);
CREATE INDEX ix_telemetry_seq_marks_tenant_id ON telemetry_seq_marks (tenant_id);
""")
    op.execute(ROLLUP.format(name="telemetry_rollup_minute"))
    op.execute(ROLLUP.format(name="telemetry_rollup_hour"))
    op.execute(rls.grant_tables(TABLES))
    for table in TABLES:
        op.execute(rls.enable(table, extra_using="app_is_system()"))
    op.execute("CREATE POLICY telemetry_ingest_lookup ON agents FOR SELECT USING (app_is_system())")
    op.execute(FUNCTIONS)
    # Today and the next days exist from the start; the ingest keeps it so.
    op.execute("SELECT telemetry_ensure_partitions(current_date - 1, current_date + 7)")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS telemetry_drop_partitions(date)")
    op.execute("DROP FUNCTION IF EXISTS telemetry_ensure_partitions(date, date)")
    op.execute("DROP POLICY IF EXISTS telemetry_ingest_lookup ON agents")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
