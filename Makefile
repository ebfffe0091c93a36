# Conveniences; each target is one command you can also type (the README gives them).
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)

.PHONY: bench bench-quick

# The benchmark suite: one table of every case, baseline and ratio (about 10 minutes).
# Choose cases or sizes with ARGS, e.g. make bench ARGS="--only cold,warm --json bench.json"
bench:
	$(PYTHON) bench/suite.py $(ARGS)

# The same at small sizes, for iterating (a few minutes).
bench-quick:
	$(PYTHON) bench/suite.py --quick $(ARGS)
