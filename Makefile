# The two commands of the README. Both set up everything they need first.
.PHONY: demo test setup lint bench clean

RUN_DIR ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
PYTEST_ARGS ?=
# the suite runs on every core: many tests wait on real servers and sockets, not the CPU
TEST_WORKERS ?= 2

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/imload run chaos/default.toml --out $(RUN_DIR)

test: setup
	.venv/bin/ruff check imload reference_server locustfiles tests benchmarks
	.venv/bin/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: setup
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b --quick; done

clean:
	rm -rf runs .pytest_cache
