-- 0006_search_speed: what full-text search reads for each of its candidates, kept small.
-- Times are REAL unix seconds (UTC). Never edit this file once released: add 0007_*.sql instead.

-- The columns a search ranks and filters its candidates by, keyed by id: looked up by id for thousands of
-- candidates per search, a few pages of this index replace hundreds of pages of whole items rows.
CREATE INDEX items_search_columns ON items (id, published, feed_id, source);

-- The latest publication time in each block of 1,024 consecutive item ids, so a search limited to items
-- published since some moment can skip, inside the full-text index, every id below the first block that
-- holds such an item (ids grow as items are stored, so that is most of an old database). The maximum only
-- ever grows: items deleted by retention leave it too high, which skips less but never skips an item that
-- qualifies.
CREATE TABLE item_id_blocks (
    block         INTEGER PRIMARY KEY,  -- items.id >> 10
    max_published REAL    NOT NULL
);

INSERT INTO item_id_blocks (block, max_published)
SELECT id >> 10, max(published) FROM items GROUP BY id >> 10;

CREATE TRIGGER item_id_blocks_after_insert AFTER INSERT ON items BEGIN
    INSERT INTO item_id_blocks (block, max_published) VALUES (new.id >> 10, new.published)
    ON CONFLICT (block) DO UPDATE SET max_published = max(max_published, excluded.max_published);
END;

CREATE TRIGGER item_id_blocks_after_update AFTER UPDATE OF published ON items BEGIN
    INSERT INTO item_id_blocks (block, max_published) VALUES (new.id >> 10, new.published)
    ON CONFLICT (block) DO UPDATE SET max_published = max(max_published, excluded.max_published);
END;
