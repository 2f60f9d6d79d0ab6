# Tourniquet. The two commands: `make demo` (a leaked key contained on a local AWS emulator)
# and `make test` (every check CI runs). Both need only the Rust toolchain and Python 3.

PYTHON ?= python3
VENV   := .venv
MOTO   := $(VENV)/bin/moto_server
# SAM pins an older boto3 than moto: the template tools get a virtualenv of their own.
SAMENV := .venv-sam
SAM    := $(SAMENV)/bin/sam

.PHONY: demo test lint template unit build package clean bench audit-compare

# The AWS API emulator the tests and the demo run on loopback, pinned.
$(MOTO):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"

$(SAM):
	$(PYTHON) -m venv $(SAMENV)
	$(SAMENV)/bin/pip install --quiet --disable-pip-version-check \
		"aws-sam-cli==1.170.0" "cfn-lint==1.58.0" "checkov==3.2.459" "cargo-lambda==1.9.2"

## demo: start moto, seed a compromised user, run `contain` on a GuardDuty finding, show the result
demo: $(MOTO)
	cargo build --quiet --bins
	cargo run --quiet -p harness --bin demo

## test: formatting, lints, unit and integration tests (each test starts its own moto)
test: $(MOTO) lint template
	cargo build --quiet --bins
	cargo test --workspace

## template: the four templates linted, validated and security-scanned (suppressions carry reasons)
template: $(SAM)
	$(SAMENV)/bin/cfn-lint template.yaml member-role.yaml member-role-stackset.yaml guardrails.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1 --template-file template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1 --template-file member-role.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1 --template-file guardrails.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1 --template-file member-role-stackset.yaml
	$(SAMENV)/bin/checkov --skip-download --compact --quiet --file template.yaml --file member-role.yaml --file member-role-stackset.yaml --file guardrails.yaml

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

## unit: the pure core only, no emulator
unit:
	cargo test -p tourniquet-core

## build: the Lambda binaries for arm64, as SAM deploys them
build: $(SAM)
	PATH="$(CURDIR)/$(SAMENV)/bin:$$PATH" cargo lambda build --release --arm64

## package: `sam build` (one cargo-lambda build of every function, arm64, offline) and each
## function's zipped size
package: $(SAM)
	SAM_CLI_TELEMETRY=0 $(SAM) build
	@$(PYTHON) tools/zipsizes.py .aws-sam/build

# What `sam build` runs for each function (BuildMethod: makefile, built in source, samconfig.toml):
# the first builds every function at once, the others find them built; each copies its bootstrap.
# ContainFunction's binary is contain, DeactivateAccessKeysFunction's deactivate-access-keys.
build-%Function: build
	cp target/lambda/$(shell echo '$*' | sed -E 's/([a-z])([A-Z])/\1-\2/g' | tr A-Z a-z)/bootstrap "$(ARTIFACTS_DIR)/bootstrap"

## bench: Tourniquet against a boto3 responder and Cloud Custodian, on moto behind a latency and
## throttling proxy; bench/run.py builds (cargo build --release --bins, then the arm64 packages with
## cargo-lambda), times the builds, measures, and rewrites BENCHMARKS.md
bench: $(MOTO)
	test -x bench/.venv-bench/bin/python || $(PYTHON) -m venv bench/.venv-bench
	bench/.venv-bench/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	bench/.venv-bench/bin/python bench/run.py

## audit-compare: the readiness audit and Prowler's IAM checks on the same emulated account;
## rewrites AUDIT.md (Prowler pins an older boto3 than Cloud Custodian: it has a virtualenv of its own)
audit-compare: $(MOTO)
	test -x bench/.venv-bench/bin/python || $(PYTHON) -m venv bench/.venv-bench
	bench/.venv-bench/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	test -x bench/.venv-prowler/bin/prowler || $(PYTHON) -m venv bench/.venv-prowler
	bench/.venv-prowler/bin/pip install --quiet --disable-pip-version-check "prowler==5.46.0"
	cargo build --quiet --bins
	bench/.venv-bench/bin/python bench/audit_compare.py

clean:
	rm -rf $(VENV) $(SAMENV) .aws-sam target
