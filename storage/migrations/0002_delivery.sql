-- 0002_delivery: chat channels subscribed from the config, and the delivery outbox.
-- Times are REAL unix seconds (UTC). Booleans are INTEGER 0/1. Never edit this file once released:
-- add 0003_*.sql instead.

-- One row per configured channel; settings are overwritten on every config sync, delivery state is kept.
CREATE TABLE subscriptions (
    id              INTEGER PRIMARY KEY,
    platform        TEXT    NOT NULL,
    channel_id      TEXT    NOT NULL,
    actors          TEXT    NOT NULL DEFAULT '["*"]',  -- JSON array of actor ids, or ["*"]
    topics          TEXT    NOT NULL DEFAULT '["*"]',  -- JSON array of topic ids, or ["*"]
    mode            TEXT    NOT NULL CHECK (mode IN ('alert', 'digest', 'both')),
    min_score       REAL    NOT NULL DEFAULT 0,
    digest_cron     TEXT    NOT NULL,
    timezone        TEXT    NOT NULL,
    quiet_start     TEXT,  -- 'HH:MM' wall time in ``timezone``
    quiet_end       TEXT,
    backfill        INTEGER NOT NULL DEFAULT 0 CHECK (backfill >= 0),
    empty_digest    TEXT    NOT NULL DEFAULT 'skip' CHECK (empty_digest IN ('skip', 'note')),
    created_at      REAL    NOT NULL,
    last_digest_end REAL,
    failing         INTEGER NOT NULL DEFAULT 0 CHECK (failing IN (0, 1)),
    last_error      TEXT,
    last_error_at   REAL,
    UNIQUE (platform, channel_id),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

-- Every message is written here before it is sent. No foreign keys: an entry carries its whole rendered
-- payload and must outlive both a pruned story and a channel removed from the config while it is pending.
-- ``dedupe_key`` is 'story:<id>' for alerts and 'period:<unix end>' for digests and empty-digest notes, so the
-- same story (or period) is never queued twice for a channel. AUTOINCREMENT: ids feed the idempotency key
-- sent to the platform and must not come back after old rows are deleted.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    platform        TEXT    NOT NULL,
    channel_id      TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('alert', 'digest', 'note')),
    dedupe_key      TEXT    NOT NULL,
    story_id        INTEGER,
    period_end      REAL,
    payload         TEXT    NOT NULL,  -- the neutral message as JSON (opaque to storage)
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at REAL    NOT NULL,
    last_error      TEXT,
    message_ids     TEXT    NOT NULL DEFAULT '[]',  -- JSON array of platform message ids
    created_at      REAL    NOT NULL,
    sent_at         REAL,
    UNIQUE (platform, channel_id, kind, dedupe_key)
);

CREATE INDEX outbox_pending_channel ON outbox (platform, channel_id, id) WHERE state = 'pending';
CREATE INDEX outbox_pending_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX outbox_story ON outbox (story_id) WHERE story_id IS NOT NULL;
