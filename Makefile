# sinkhole — the two commands: `make run` and `make test`.
SHELL := /bin/bash
export SWIFT_DETERMINISTIC_HASHING := 1

SWIFT ?= swift
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN_DEBUG := .build/debug/sinkhole
APT_PACKAGES := swaks
PIP_PACKAGES := pytest

.PHONY: all build release run test test-unit test-integration deps clean

all: build

## build: debug build of sinkhole and of its tests (reused by every test stage)
build:
	$(SWIFT) build --build-tests

## release: optimised binary at .build/release/sinkhole
release:
	$(SWIFT) build -c release --product sinkhole

## run: build and start sinkhole on 127.0.0.1:2525 in accept-log mode
run:
	$(SWIFT) build --product sinkhole
	$(BIN_DEBUG) --listen 127.0.0.1:2525 --mode accept-log --log-format text $(ARGS)

## deps: what the tests need (Debian and PyPI packages), installed only if missing
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -c "import pytest" 2>/dev/null || $(PYTHON) -m pip install -q $(PIP_PACKAGES)

## test: install what the tests need, build once, run every test
test: deps build test-unit test-integration

test-unit:
	$(SWIFT) test --skip-build --parallel

test-integration:
	SINKHOLE_BIN=$(CURDIR)/$(BIN_DEBUG) $(PYTHON) -m pytest -q Tests/integration

clean:
	rm -rf .build
