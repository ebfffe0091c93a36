"""The `monitor` command: main.py wires argparse (run, poll, search, status, backup, prune,
match, rules), manage.py the feed and archive management commands (feeds list/import/export/
remove), demo.py the offline demo.

May import anything in monitor. Start at main.py; a new command is a subparser and a function
there (or in manage.py for feeds).
"""
