-- 0005_subscription_origin: where a subscription came from. 'config' rows follow the config file (a config
-- sync adds, updates and removes them); 'chat' rows were made with /diplowatch subscribe and survive restarts.
-- Rows stored before this migration all came from config syncs, so they start as 'config'.
-- Never edit this file once released: add 0006_*.sql instead.
ALTER TABLE subscriptions ADD COLUMN origin TEXT NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'chat'));
