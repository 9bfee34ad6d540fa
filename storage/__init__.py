"""Persistence on SQLite (aiosqlite): migrations, connection and repositories returning ``feeds`` types."""
