"""Keyword rules: the query language (query.py), term lists and folding, the matcher that
runs every rule over an article (matcher.py: RuleSet; plans.py, a query as set tests;
needs.py, which rules can match), rule files with their examples (rulefile.py, examples.py)
and trials over the archive's text (trial.py).

May import: monitor.config, monitor.types, monitor.errors. Pure: no clock, network or SQL.
Start at ruleset.py (compile a rule file's rules), then matcher.py. A new operator is a node
in query.py and its evaluation in plans.py.
"""
