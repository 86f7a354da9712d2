# Shortcuts for dev.py (which needs nothing but Python 3.11+).
PY ?= python3

.PHONY: demo test test-quick dev viewer coverage lint bench
demo:
	$(PY) dev.py demo
test:
	$(PY) dev.py test
test-quick:
	$(PY) dev.py test --quick
dev:
	$(PY) dev.py dev
lint:
	$(PY) dev.py lint
bench:
	$(PY) dev.py bench
viewer:
	$(PY) dev.py viewer
coverage:
	$(PY) dev.py coverage
