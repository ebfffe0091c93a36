"""The `monitor` command: one module per command group, main.py wiring argparse.

    main.py     the parser of every command and option, and the dispatch (COMMANDS): a
                command's module is imported only when it runs, so `monitor status` starts
                without the service's libraries
    context.py  the global options (--config, --log-level), durations, counts, JSON Lines
    service.py  run, poll                     (the only one that imports the service)
    archive.py  search, status, backup, prune
    rules.py    rules check, rules test, match
    feeds.py    feeds list, import, export, resume, remove
    demo.py     demo (the seeds and starter rules ship in the package: monitor/_data/)

May import anything in monitor. A new command: its parser in main.py, its entry in COMMANDS,
its function in the module of its group (or a new module for a new group).
"""
