-- 0001_initial: feeds and their fetch state, items with full-text search, stories, matches, watchlists.
-- Times are REAL unix seconds (UTC). Booleans are INTEGER 0/1. Never edit this file once released:
-- add 0002_*.sql instead.

CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT    NOT NULL UNIQUE,
    name                 TEXT    NOT NULL,
    interval_s           INTEGER NOT NULL CHECK (interval_s > 0),
    origin               TEXT    NOT NULL CHECK (origin IN ('config', 'chat')),
    paused               INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    etag                 TEXT,
    last_modified        TEXT,
    body_hash            TEXT,
    last_success_at      REAL,
    last_error           TEXT,
    last_error_at        REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    next_poll_at         REAL,
    created_at           REAL    NOT NULL
);

CREATE INDEX feeds_due ON feeds (next_poll_at) WHERE paused = 0;

CREATE TABLE stories (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT    NOT NULL UNIQUE,
    title      TEXT    NOT NULL,
    first_seen REAL    NOT NULL,
    last_seen  REAL    NOT NULL,
    score      REAL    NOT NULL DEFAULT 0
);

CREATE INDEX stories_first_seen ON stories (first_seen);

-- AUTOINCREMENT: an item id shown in chat never comes back as another item after retention deletes it.
CREATE TABLE items (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    feed_id             INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    identity            TEXT    NOT NULL,
    guid                TEXT,
    url                 TEXT,
    title               TEXT    NOT NULL,
    summary             TEXT    NOT NULL,
    published           REAL    NOT NULL,
    published_estimated INTEGER NOT NULL CHECK (published_estimated IN (0, 1)),
    content_hash        TEXT    NOT NULL,
    source              TEXT    NOT NULL DEFAULT '',
    language            TEXT,
    author              TEXT,
    fetched_at          REAL    NOT NULL,
    story_id            INTEGER REFERENCES stories (id) ON DELETE SET NULL,
    fingerprint         BLOB
);

-- Exact duplicates within one feed are stored once (NULL guid/url never collide).
CREATE UNIQUE INDEX items_feed_guid ON items (feed_id, guid);
CREATE UNIQUE INDEX items_feed_url ON items (feed_id, url);
CREATE UNIQUE INDEX items_feed_content_hash ON items (feed_id, content_hash);
CREATE INDEX items_published ON items (published);
CREATE INDEX items_story ON items (story_id) WHERE story_id IS NOT NULL;

-- External-content full-text index over items, kept in sync by the triggers below.
CREATE VIRTUAL TABLE items_fts USING fts5 (
    title,
    summary,
    source,
    content = 'items',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER items_fts_after_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, title, summary, source) VALUES (new.id, new.title, new.summary, new.source);
END;

CREATE TRIGGER items_fts_after_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary, source)
    VALUES ('delete', old.id, old.title, old.summary, old.source);
END;

CREATE TRIGGER items_fts_after_update AFTER UPDATE OF title, summary, source ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary, source)
    VALUES ('delete', old.id, old.title, old.summary, old.source);
    INSERT INTO items_fts (rowid, title, summary, source) VALUES (new.id, new.title, new.summary, new.source);
END;

-- What an item matched: one row per item (score, spans as a JSON array) ...
CREATE TABLE match_results (
    item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    score   REAL    NOT NULL,
    spans   TEXT    NOT NULL DEFAULT '[]'
);

-- ... and one row per matched actor or topic, in the order the classifier gave them.
CREATE TABLE matches (
    item_id   INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL CHECK (kind IN ('actor', 'topic')),
    target_id TEXT    NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (item_id, kind, target_id)
) WITHOUT ROWID;

CREATE INDEX matches_target ON matches (kind, target_id);

CREATE TABLE actors (
    id       TEXT    PRIMARY KEY,
    name     TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('person', 'state', 'org', 'place')),
    position INTEGER NOT NULL
);

CREATE TABLE actor_aliases (
    actor_id   TEXT    NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    alias      TEXT    NOT NULL,
    exact_case INTEGER NOT NULL DEFAULT 0 CHECK (exact_case IN (0, 1)),
    position   INTEGER NOT NULL,
    PRIMARY KEY (actor_id, alias)
) WITHOUT ROWID;

CREATE TABLE actor_not_near (
    actor_id TEXT    NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    phrase   TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (actor_id, phrase)
) WITHOUT ROWID;

CREATE TABLE topics (
    id       TEXT    PRIMARY KEY,
    name     TEXT    NOT NULL,
    position INTEGER NOT NULL
);

CREATE TABLE topic_phrases (
    topic_id TEXT    NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    role     TEXT    NOT NULL CHECK (role IN ('any', 'all', 'none')),
    phrase   TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (topic_id, role, phrase)
) WITHOUT ROWID;

-- Bumped by every watchlist change so the classifier knows to rebuild its automaton.
CREATE TABLE watchlist_version (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version   INTEGER NOT NULL
);

INSERT INTO watchlist_version (singleton, version) VALUES (1, 0);
