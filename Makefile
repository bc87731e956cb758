# The only entry point for humans and CI. `make help` lists the targets.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
SERVE_ARGS ?= --host 0.0.0.0 --port 9000

.DEFAULT_GOAL := help

.PHONY: help
help: ## list targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

.PHONY: install
install: ## build the Rust core and install the package with its dev dependencies (editable)
	$(PIP) install --quiet --upgrade "pip>=23"
	$(PIP) install --quiet -e ".[dev]"

.PHONY: build-dev
build-dev: ## rebuild the Rust extension after changing rust/
	$(PIP) install --quiet --no-deps -e .

.PHONY: serve
serve: install ## run the reference CSMS (SERVE_ARGS="--host 0.0.0.0 --port 9000")
	ocpp-router serve $(SERVE_ARGS)

.PHONY: generate
generate: ## regenerate schema data and message classes from the pinned `ocpp` package
	$(PYTHON) scripts/generate.py

.PHONY: check-generated
check-generated: ## fail when generated files are stale
	$(PYTHON) scripts/generate.py --check

.PHONY: format
format: ## format Python and Rust
	$(PYTHON) -m ruff check --fix python tests benches scripts
	$(PYTHON) -m ruff format python tests benches scripts
	cargo fmt

.PHONY: lint
lint: ## ruff, mypy --strict, stubtest, rustfmt, clippy
	$(PYTHON) -m ruff check python tests benches scripts
	$(PYTHON) -m ruff format --check python tests benches scripts
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest ocpp_router._core --allowlist .stubtest-allowlist
	cargo fmt --check
	cargo clippy --all-targets --all-features -- -D warnings

.PHONY: test-rust
test-rust: ## cargo tests of the sans-IO core
	cargo test --quiet

.PHONY: test-python
test-python: ## pytest suite
	$(PYTHON) -m pytest -q

.PHONY: test
test: install check-generated test-rust test-python ## everything a fresh clone needs: build, then all tests

.PHONY: bench-core
bench-core: ## full in-process pipeline benchmark vs the `ocpp` peer; writes benches/results/core.json
	$(PYTHON) benches/run_core.py --full

.PHONY: bench-core-quick
bench-core-quick: ## short pipeline benchmark (CI prints it; never fails on timings)
	$(PYTHON) benches/run_core.py --quick

.PHONY: bench-cluster
bench-cluster: ## cluster mode: cross-node vs local call over Valkey (starts one); writes benches/results/cluster.json
	$(PYTHON) benches/run_cluster.py --full

.PHONY: fuzz
fuzz: ## cargo-fuzz the frame parser + validator for FUZZ_SECONDS (needs nightly; installs cargo-fuzz)
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p fuzz/corpus/receive && cd fuzz && cargo +nightly fuzz run receive corpus/receive seeds -- -max_total_time=$${FUZZ_SECONDS:-600} -max_len=8192

.PHONY: docs
docs: install ## build the documentation site into site/ (mkdocs --strict; API reference from the docstrings)
	$(PYTHON) -m mkdocs build --strict

.PHONY: docs-serve
docs-serve: install ## preview the documentation site on http://127.0.0.1:8000 (rebuilds on change)
	$(PYTHON) -m mkdocs serve --strict

.PHONY: bench-quick
bench-quick: ## end-to-end over sockets vs the `ocpp` peer, N = 100, 1,000 (< 3 min); writes benches/results/e2e-quick.json
	$(PYTHON) benches/e2e/run.py --quick

.PHONY: bench-e2e
bench-e2e: ## end-to-end over sockets vs the `ocpp` peer, adds N = 10,000; writes benches/results/e2e.json
	$(PYTHON) benches/e2e/run.py --full
