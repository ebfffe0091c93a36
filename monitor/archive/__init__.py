"""The SQLite archive: the only package that imports sqlite3 or sqlite_utils.

store.py is the Archive (connection, transactions, migrations and the methods the pipeline
calls); one module per table family holds that family's SQL: articles.py, feeds.py,
stories.py, chats.py; snapshot.py is a parser worker's read-only view.

May import: monitor.config, monitor.types, monitor.errors; callers pass in what it needs of
other stages (a staleness test, fingerprints as JSON). Start at store.py.
"""
