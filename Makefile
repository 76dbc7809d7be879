# The two commands: `make up` (the whole platform on embedded services) and
# `make test` (the whole suite). Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: up test install translations chromium fonts agent bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(INSTALLED): $(BIN)/python pyproject.toml agents/pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]' -e './agents[test]'
	touch $(INSTALLED)

install: $(INSTALLED) translations

# The platform's catalogue and every room's own (alloyhub/**/translations).
translations: $(INSTALLED)
	@for dir in $$(find alloyhub -type d -name translations | sort); do \
	  $(BIN)/pybabel -q compile -d $$dir || exit 1; done

up: install
	@$(MAKE) --no-print-directory fonts || echo "no Chinese font could be installed: PDF reports will show Chinese as '?'"
	$(BIN)/alloyhub up

# Browser tests drive Debian's Chromium; install it when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# PDF reports (remote_service) print Chinese with a CJK font: install Debian's
# WenQuanYi Micro Hei when fontconfig knows none and no known CJK font file exists.
CJK_FONTS := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
fonts:
	@found=; for f in $(CJK_FONTS); do [ -e "$$f" ] && found=$$f; done; \
	  if [ -z "$$found" ] && command -v fc-list >/dev/null 2>&1; then found=$$(fc-list :lang=zh file | head -n 1); fi; \
	  [ -n "$$found" ] || { \
	  echo "installing Debian's fonts-wqy-microhei for the Chinese PDF reports"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-wqy-microhei >/dev/null; }

# The platform's suite, then the agent's (its own distribution, its own tests).
# pytest exits 5 when it collects no test; that is not a failure of a suite.
test: install chromium fonts
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; \
	cd agents && ../$(BIN)/python -m pytest -q; arc=$$?; [ $$arc -eq 5 ] && arc=0; \
	[ $$rc -eq 0 ] && [ $$arc -eq 0 ]

# The on-prem agent alone, as a plant PC would install it.
agent: $(BIN)/python
	$(BIN)/pip install --quiet -e ./agents

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
