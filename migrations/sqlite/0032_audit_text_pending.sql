-- PostgreSQL's migration 0032 shortens its text index's pending list (issue 16); SQLite has
-- none. The file keeps the two databases' migrations numbered alike.
SELECT 1;
