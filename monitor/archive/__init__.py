"""The SQLite archive: the only package that imports sqlite3 or sqlite_utils.

store.py is the Archive: opening the file, composed of one mixin per table family, each with
that family's SQL: articles.py, feeds.py, stories.py, chats.py, outbox.py (the alerts table).
connection.py holds the connection, write transactions and the one place sqlite3 errors become
StorageError (@reads / @writes); schema.py every migration; snapshot.py is a parser worker's
read-only view; storymemory.py and storyindex.py what story grouping reads, from memory;
storyrows.py how story profiles and fingerprints are stored (and older rows rewritten).

May import: monitor.config, monitor.types, monitor.errors; callers pass in what it needs of
other stages (a staleness test, fingerprints and profiles as stored). Start at store.py.
"""
