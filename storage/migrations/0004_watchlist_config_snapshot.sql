-- The watchlist as the config files last gave it, so a later change to the files is applied as a diff
-- (added, changed, removed) without undoing edits made from chat.
CREATE TABLE watchlist_config_snapshot (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    toml TEXT NOT NULL,
    saved_at REAL NOT NULL
);
