# Tourniquet. The two commands: `make demo` (a leaked key contained on a local AWS emulator)
# and `make test` (every check CI runs). Both need only the Rust toolchain and Python 3.

PYTHON ?= python3
VENV   := .venv
MOTO   := $(VENV)/bin/moto_server

.PHONY: demo test lint unit build clean

# The AWS API emulator the tests and the demo run on loopback, pinned.
$(MOTO):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"

## demo: start moto, seed a compromised user, run `contain` on a GuardDuty finding, show the result
demo: $(MOTO)
	cargo build --quiet --bins
	cargo run --quiet -p harness --bin demo

## test: formatting, lints, unit and integration tests (each test starts its own moto)
test: $(MOTO) lint
	cargo build --quiet --bins
	cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

## unit: the pure core only, no emulator
unit:
	cargo test -p playbook

## build: the Lambda binaries for arm64, as SAM deploys them (needs cargo-lambda)
build:
	cargo lambda build --release --arm64

clean:
	rm -rf $(VENV) target
