# The two commands of the README. Both install what is missing first (scripts/bootstrap).
.PHONY: setup test chaos gate bite bench lint clean second-platform

setup:
	./scripts/bootstrap

# Self-tests (unit tests of the engine, integration tests against the real stack on loopback, the crash
# matrix: runners killed with SIGKILL in every phase, then `heal` and `down` must leave nothing) and every
# runbook scenario with its negative control, which must fail its checks; then the bite mutants that stand
# for the controls a configuration cannot express (a code change: a doubled charge, a made-up order, SQL
# built by string formatting, a refused checkout that happened), which must be killed; then every
# scenario again on the docker driver (its report in reports/docker/). Without a Docker engine that can
# start, the docker scenarios skip with the reason printed, and do not fail. The scenario files
# (scenarios/data, compared with their Python twins) run on the local driver here, not again on docker:
# they use the same faults and checks, and the docker pass would add about 5 minutes.
BITE_IN_TEST = payment-key-per-attempt checkout-ignores-idempotency-key search-sql-string-formatting payment-outage-answered-400
test: setup
	.venv/bin/python -m pytest tests scenarios --junitxml=reports/junit-test.xml
	.venv/bin/aarya-chaos bite --only $(BITE_IN_TEST) --reports-dir reports/bite/in-test
	.venv/bin/python -m pytest scenarios --stack docker -m "not scenario_file" --reports-dir reports/docker --junitxml=reports/junit-test-docker.xml

# The chaos suite: the runbook scenarios against the real stack; the report goes to reports/latest/.
# `make chaos STACK=docker` runs them on the docker driver (docker-compose.test.yml) instead.
STACK ?= local
# A scenario that fails is run once more (--chaos-reruns 1): a pass after a failure is recorded as `flaky`,
# which the gate lists (and the pre-release gate fails on), never a silent pass.
chaos: setup
	.venv/bin/python -m pytest scenarios --stack $(STACK) --chaos-reruns 1 --junitxml=reports/junit-chaos.xml

# The second platform (examples/second-platform: pretix, from PyPI, on its own compose project): the suite
# attaches to it (--stack attach --target) and runs its scenario files with their controls; the report goes
# to reports/second-platform/. The suite starts pretix's project itself (--start-platform: `compose up`
# with the proxy in its path, `stop` at the end); the project and its volumes are removed at the end (the
# example's own).
second-platform: setup
	.venv/bin/python examples/second-platform/pretix_project.py prepare
	. /tmp/aarya-pretix/run.env && .venv/bin/python -m pytest scenarios/test_scenario_files.py --stack attach \
		--target /tmp/aarya-pretix/pretix.toml --start-platform --scenario-dir examples/second-platform/scenarios \
		--reports-dir reports/second-platform --junitxml=reports/junit-second-platform.xml; \
		status=$$?; .venv/bin/python examples/second-platform/pretix_project.py down; exit $$status

# The CI gate over the last run: non-zero when a scenario missed a target or a control did not bite.
gate: setup
	.venv/bin/aarya-chaos gate --summary reports/latest/summary.json

# Mutation test of the suite: the scenarios against sabotaged stacks, one mutant at a time; reports/bite/.
bite: setup
	.venv/bin/aarya-chaos bite

# Benchmarks (benchmarks/, docs/benchmarks.md): the checkers over 10k/100k/1M-operation histories (their growth must
# stay linear), the history writer, the reports, the Toxiproxy client. Each run is saved in reports/benchmarks/ and
# compared with the previous save of this machine: a benchmark whose fastest round is more than 50 % slower fails
# (benchmarks/run.py says why 50 %; the first run only saves).
bench: setup
	.venv/bin/python benchmarks/run.py

lint: setup
	.venv/bin/mypy aarya_chaos stack fixtures load checks reports

clean:
	-.venv/bin/aarya-chaos down
	rm -rf .venv reports/latest
