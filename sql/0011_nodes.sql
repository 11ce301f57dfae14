-- Nodes: every running node upserts its row every few seconds (presence service), so any
-- node can answer GET /api/v1/ops/nodes for the whole cluster. Not tenant data: the
-- table holds node names, start times and session counts only.
CREATE TABLE nodes (
    node_id      text        PRIMARY KEY CHECK (char_length(node_id) BETWEEN 1 AND 200),
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    sessions     integer     NOT NULL CHECK (sessions >= 0),
    stopped_at   timestamptz
);
GRANT SELECT, INSERT, UPDATE ON nodes TO signage_app;
