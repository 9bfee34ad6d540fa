-- 0003_audit: who changed what from chat, when, and from which platform.
-- Times are REAL unix seconds (UTC). Never edit this file once released: add 0004_*.sql instead.

-- AUTOINCREMENT: an audit row id never comes back after old rows are pruned.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         REAL    NOT NULL,
    platform   TEXT    NOT NULL,
    actor_user TEXT    NOT NULL,
    command    TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_at ON audit_log (at);
