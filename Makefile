# Developer entry points. CI runs .ci/run, which is `make test`. `make demo` and `make test`
# each set up what they need first (setup is idempotent: about 3 s once done).
.PHONY: help setup test lint clean demo cluster-up cluster-down
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

setup: ## create .venv, install the pinned Python deps and helm (idempotent)
	bash scripts/setup.sh

test: setup ## set up, then yamllint, ansible-lint, ansible-test sanity, pytest, molecule
	bash scripts/test.sh

demo: setup ## start the local cluster and install the dev profile into it
	bash scripts/demo.sh

cluster-up: ## start the local control plane (builds it on first use, ~7 min)
	scripts/cluster up

cluster-down: ## stop the local control plane (its logs are kept)
	scripts/cluster down

lint: setup ## yamllint and ansible-lint only
	bash scripts/test.sh lint

clean: ## remove .venv and build outputs (keeps ~/.cache/inferno-ops)
	rm -rf .venv build tests/output .pytest_cache .ansible
	rm -f ./*.tar.gz
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
