# hutch: developer and CI entry points. Run as root on Linux (Debian/Ubuntu: packages come from apt).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= ../shared
V2VM := $(SHARED)/tools/v2vm
APT_DEMO := stress busybox-static tini python3-venv
# podman, conmon and containerd drive hutch-runtime in tests/interop; runc is the benchmark's and tests' peer.
# docker-registry and skopeo: a real registry, and the tool that pushes the test images into it (tests/image);
# skopeo + umoci are also the pull benchmark's peer.
APT_TEST := $(APT_DEMO) runc gcc libc6-dev iproute2 hyperfine util-linux podman conmon containerd docker-registry skopeo umoci libseccomp2
PYTEST_ARGS ?=

.PHONY: demo test lint pytest-host pytest-v2 bench apt-demo apt-test venv shim clean

# Install only the packages that are missing, quietly; `apt-get update` only when something is missing.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install $$missing"; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

apt-demo:
	$(call apt_install,$(APT_DEMO))

apt-test:
	$(call apt_install,$(APT_TEST))

# Debian's interpreter when there is one: it starts about 2.5 ms faster than a pyenv build here (each
# hutch-runtime command is a fresh interpreter).
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

# Byte-compile hutch: with PYTHONDONTWRITEBYTECODE set (as on this machine) every start would compile anew.
$(VENV)/.compiled: $(VENV)/.installed $(wildcard src/hutch/*.py src/hutch/*/*.py src/hutch/*/*/*.py)
	$(PY) -m compileall -q src >/dev/null
	touch $@

# The launchers pip installed work anywhere; these replace them for the venv with `python -IS` (isolated, no site),
# the source directory first on sys.path and the venv's site-packages (the dependencies) last: no site module
# (3-5 ms per command) and nothing from PYTHON* variables of the caller.
$(VENV)/.launchers: $(VENV)/.installed bin/hutch bin/hutch-runtime
	@purelib=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	for script in hutch hutch-runtime; do \
		{ echo "#!$(abspath $(PY)) -IS"; \
		  echo "import sys; sys.path.insert(0, '$(abspath src)'); sys.path.append('$$purelib')  # by make venv"; \
		  tail -n +2 bin/$$script; } > $(VENV)/bin/$$script.tmp && \
		chmod 755 $(VENV)/bin/$$script.tmp && mv $(VENV)/bin/$$script.tmp $(VENV)/bin/$$script; \
	done
	touch $@

venv: $(VENV)/.installed $(VENV)/.compiled $(VENV)/.launchers

demo: apt-demo venv
	@echo '$$ hutch run --rootfs / -m 50m -- stress --vm 1 --vm-bytes 40m --vm-keep -t 2'
	@$(VENV)/bin/hutch run --rootfs / -m 50m -- stress --vm 1 --vm-bytes 40m --vm-keep -t 2; echo "exit code: $$?"
	@echo '$$ hutch run --rootfs / -m 50m -- stress --vm 1 --vm-bytes 100m --vm-keep -t 2'
	@$(VENV)/bin/hutch run --rootfs / -m 50m -- stress --vm 1 --vm-bytes 100m --vm-keep -t 2; echo "exit code: $$?"

lint: venv
	$(VENV)/bin/ruff check src tests

# pytest exits 5 when it collects no tests; for a whole run that is a failure, so it is not special-cased.
pytest-host: apt-test venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The VM emulates its CPU (about 5x slower here): time limits in the tests are scaled to match. The podman and
# containerd tests stay on the host: they test the engines' calls, not the cgroup layout, and take ~10 min there.
# tests/image only parses and unpacks: nothing in it depends on the cgroup layout, so it stays on the host too,
# as do the config model's parsing, seccomp, hooks, mount options, the process fields and the mount/fd attack
# races (V2_HOST_ONLY): they do not touch cgroups (the device and cgroup attacks are in tests/engine, the
# resources and execCPUAffinity's cpuset in tests/oci/test_runtime_resources.py, which run in both), and the
# races alone would take 10-24 minutes under emulation: the VM run must leave CI well under 45 minutes.
V2_HOST_ONLY = tests/image tests/oci/test_oci_spec.py tests/linux/test_linux_seccomp.py \
	tests/oci/test_runtime_seccomp.py tests/oci/test_runtime_hooks.py tests/oci/test_runtime_attacks.py \
	tests/oci/test_runtime_mounts.py tests/oci/test_runtime_process_fields.py
pytest-v2: apt-test venv
	HUTCH_TEST_TIME_SCALE=5 $(V2VM) --timeout 2400 -- $(PY) -m pytest -m "not interop" \
		$(addprefix --ignore=,$(V2_HOST_ONLY)) $(PYTEST_ARGS) tests

# Both runs happen even when the first fails; the target fails if either did.
test: lint apt-test venv
	@status=0; \
	$(MAKE) --no-print-directory pytest-host || status=1; \
	$(MAKE) --no-print-directory pytest-v2 || status=1; \
	exit $$status

# Start-up against runc, then a pull of a >= 150 MiB image against skopeo copy + umoci unpack.
bench: apt-test venv
	$(PY) bench/bench.py $(BENCH_ARGS)
	$(PY) bench/pull.py $(PULL_BENCH_ARGS)

# The exec shim (src/hutch/linux/shim/execshim.c) is committed as built bytes, so installing needs no compiler.
# x86_64 with gcc; aarch64 too when gcc-aarch64-linux-gnu is installed.
shim:
	python3 src/hutch/linux/shim/build.py

clean:
	rm -rf $(VENV) bench/work .pytest_cache .ruff_cache
