-- PostgreSQL's migration 0031 keeps each chain's words, so a prefix in free text is searched
-- as the few words it names (issue 16). SQLite's FTS5 index reads a prefix's words newest
-- first like any word's, so nothing changes here; the file keeps the two databases'
-- migrations numbered alike.
SELECT 1;
