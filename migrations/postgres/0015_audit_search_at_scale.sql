-- Audit search at 10M events on PostgreSQL (issue 16). A CIDR search sorts the keys of the
-- block's events read from `audit_events_ip` alone (an index-only scan), and the other
-- index-only walks do the same; they skip the table only on pages the visibility map marks
-- all-visible, which vacuum does. By default an insert-only table is vacuumed after its
-- size grew by a fifth (2M events at 10M), so the newest events, which every newest-first
-- search reads first, would stay unmarked; vacuum them every 100,000 events instead (cheap
-- on an append-only table: only the unmarked pages are read).
--
-- Tried and not kept: `ip_key` carried in the time index (`INCLUDE`), so a walk newest first
-- checks the address without the table. The planner then walked the whole index for a
-- block with no events at all (2.1 s at 10M), trusting its estimate of 22,000 matches.
ALTER TABLE audit_events SET (autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 100000);
