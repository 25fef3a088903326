-- PostgreSQL's migration 0029 indexes each audit event under its address's block for CIDR
-- searches (issue 16). SQLite keeps reading a block as a key range of `audit_events_ip`
-- (15.5 ms p95 for a /16 at 10M events), so nothing changes here; the file keeps the two
-- databases' migrations numbered alike.
SELECT 1;
