# Developer entry points. CI runs .ci/run, which is `make test`. `make demo` and `make test`
# each set up what they need first (setup is idempotent: about 3 s once done).
.PHONY: help setup test lint changelog clean demo cluster-up cluster-down kind
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## create .venv, install the pinned Python deps and helm (idempotent)
	bash scripts/setup.sh

test: setup ## set up, then yamllint, ansible-lint, check the built tarball (sanity, lint, units), pytest, molecule
	bash scripts/test.sh

demo: setup ## start the local cluster and install the dev profile into it
	bash scripts/demo.sh

cluster-up: ## start the local control plane (builds it on first use, ~7 min)
	scripts/cluster up

cluster-down: ## stop the local control plane (its logs are kept)
	scripts/cluster down

# Molecule runs the ansible-* programs it finds on PATH, so .venv/bin goes first. Without
# docker, kind or kubectl it stops at once and says so (`molecule test -s local` needs no Docker).
kind: ## molecule test on a kind cluster, for Docker users (kind v0.30, kubectl, curl, git; README: Molecule)
	@test -x .venv/bin/molecule || { echo "make kind: .venv/bin/molecule is missing: run 'make setup' first" >&2; exit 1; }
	PATH="$(CURDIR)/.venv/bin:$$PATH" molecule test

lint: setup ## yamllint, ansible-lint, shellcheck and ruff only
	bash scripts/test.sh lint

changelog: setup ## rebuild CHANGELOG.rst and changelogs/changelog.yaml from changelogs/fragments
	.venv/bin/python scripts/changelog.py $(if $(DATE),--date $(DATE))

clean: ## remove .venv and build outputs (keeps ~/.cache/inferno-ops)
	rm -rf .venv build tests/output .pytest_cache .ansible
	rm -f ./*.tar.gz
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
