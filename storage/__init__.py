"""Persistence on SQLite (aiosqlite): ``db`` opens, migrates and runs transactions; one repository module
per aggregate (feeds, items, stories, matches, watchlists, …) takes and returns ``feeds`` types.
SQL lives here and nowhere else.
"""
