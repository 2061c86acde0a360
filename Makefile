# Makefile - build, run, test and install mod_mpm_hybrid (Debian 12).
#
#   make                 install missing build packages (root), build build/mod_mpm_hybrid.so
#   make run [PORT=9000] serve http://127.0.0.1:PORT/ in the foreground (Ctrl-C stops)
#   make test            test-deps, build, check-sources, check-exports, unit, fuzz, e2e
#   make deb             build/deb/libapache2-mpm-hybrid_*.deb (dpkg-buildpackage)
#   make install         from-source install (build dependencies only; enables nothing)
#   make help            every target and variable
#
# The module itself is built by Makefile.apxs; the source list is sources.mk.

SHELL      := /bin/bash
APXS       ?= apxs
PYTHON     ?= /usr/bin/python3
APACHE2    ?= /usr/sbin/apache2
PORT       ?= 8080
DESTDIR    ?=
# Debian's a2enmod/a2dismod use the same variable for /etc/apache2.
APACHE_CONFDIR ?= /etc/apache2

SO     := build/mod_mpm_hybrid.so
SO_ABS := $(CURDIR)/$(SO)

# The MPM `make run` / `make run-config` load.  MPM=event (or worker,
# prefork) selects a stock Debian MPM, e.g. to compare behaviour.
ifneq ($(MPM),)
ifneq ($(MPM),hybrid)
MPM_SO     ?= /usr/lib/apache2/modules/mod_mpm_$(MPM).so
MPM_MODULE ?= mpm_$(MPM)_module
endif
endif
MPM_SO     ?= $(SO_ABS)
MPM_MODULE ?= mpm_hybrid_module

RUN_ENV = PORT='$(PORT)' MPM_SO='$(MPM_SO)' MPM_MODULE='$(MPM_MODULE)' \
          $(if $(RUN_DIR),RUN_DIR='$(RUN_DIR)') $(if $(LOG_LEVEL),LOG_LEVEL='$(LOG_LEVEL)')

# Build hybrid for `make run` only when it is the MPM being run.
RUN_NEEDS := run-deps $(if $(filter $(SO_ABS),$(abspath $(MPM_SO))),build)

.PHONY: all build deps run-deps test-deps run run-config test unit fuzz e2e debug \
        deb install uninstall clean check-sources check-exports help

all: build

# deps: what building needs (compiler, apache2-dev, libevent-dev), never
# the test tools: `make install` on a production host runs it.
deps:
	@bash scripts/install-deps.sh build

run-deps:
	@bash scripts/install-deps.sh run

# Everything unit, fuzz and e2e use (cmocka, clang, pytest, php-fpm, wrk,
# h2load, chromium, ... and dpkg-dev, debhelper, lintian for the package
# test).
test-deps:
	@bash scripts/install-deps.sh test

build: deps
	@$(MAKE) --no-print-directory -f Makefile.apxs APXS='$(APXS)'

check-sources:
	@bash scripts/check-sources.sh

check-exports: build
	@bash scripts/check-exports.sh $(SO)

unit: test-deps
	$(MAKE) -C tests/unit run

# libFuzzer on headscan.c for FUZZ_SECONDS (30; the step stays under 60 s),
# from a copy of tests/fuzz/corpus; fails on any crash or sanitizer report.
fuzz: test-deps
	$(MAKE) -C tests/fuzz run

# pytest exits 5 when it collects no test: that is a failure here too.
# HYB_SO tells tests/e2e which module to load; MPM=event in the environment
# runs the same tests against the stock event MPM.
HYB_SO ?= $(SO_ABS)
e2e: build test-deps
	@echo "HYB_SO=$(HYB_SO) $(PYTHON) -m pytest -q tests/e2e"
	@rc=0; HYB_SO='$(HYB_SO)' $(PYTHON) -m pytest -q tests/e2e || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "e2e: FAIL: pytest collected no tests in tests/e2e" >&2; fi; \
	exit $$rc

# Build and static checks stop at the first failure; unit, fuzz and e2e all
# run, and the target fails if any did.
test: test-deps build check-sources check-exports
	@rc=0; failed=; \
	$(MAKE) --no-print-directory unit || { rc=1; failed="$$failed unit"; }; \
	$(MAKE) --no-print-directory fuzz || { rc=1; failed="$$failed fuzz"; }; \
	$(MAKE) --no-print-directory e2e || { rc=1; failed="$$failed e2e"; }; \
	$(MAKE) --no-print-directory debug || { rc=1; failed="$$failed debug"; }; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED:$$failed" >&2; fi; \
	exit $$rc

# The -DAP_DEBUG build (ownership asserts on), its unit tests and a short
# e2e subset against it (scripts/debug-test.sh).
debug: build test-deps
	@bash scripts/debug-test.sh

run-config:
	@conf=$$($(RUN_ENV) bash scripts/run-config.sh) && echo "generated $$conf" && \
	echo "check it with: $(APACHE2) -t -f $$conf"

run: $(RUN_NEEDS)
	@conf=$$($(RUN_ENV) bash scripts/run-config.sh) || exit 1; \
	dir=$$(dirname "$$conf"); \
	echo "Serving http://127.0.0.1:$(PORT)/ and /server-status with $(MPM_MODULE)"; \
	echo "  config:    $$conf"; \
	echo "  error log: $$dir/logs/error.log"; \
	echo "Ctrl-C stops the server."; \
	exec $(APACHE2) -f "$$conf" -DFOREGROUND

# The Debian package, from a clean copy of the tree; the working tree is not
# touched.  Installs debian/control's Build-Depends (root), not test tools.
DEB_DIR ?= build/deb
deb:
	@bash scripts/build-deb.sh '$(DEB_DIR)'

# From-source install: never overwrites an edited mpm_hybrid.conf (the new
# one goes beside it as .new); enables nothing.  uninstall refuses while
# mpm_hybrid is the enabled MPM.  See scripts/install.sh.
INSTALL_ENV = SO='$(SO)' LIBEXECDIR='$(or $(shell $(APXS) -q LIBEXECDIR 2>/dev/null),/usr/lib/apache2/modules)' \
              APACHE_CONFDIR='$(APACHE_CONFDIR)' DESTDIR='$(DESTDIR)'
install: build
	@$(INSTALL_ENV) bash scripts/install.sh install

uninstall:
	@$(INSTALL_ENV) bash scripts/install.sh uninstall

clean:
	@$(MAKE) --no-print-directory -f Makefile.apxs clean
	@if [ -f tests/unit/Makefile ]; then $(MAKE) --no-print-directory -C tests/unit clean || true; fi
	@if [ -f tests/fuzz/Makefile ]; then $(MAKE) --no-print-directory -C tests/fuzz clean || true; fi
	rm -rf .pytest_cache tests/e2e/.pytest_cache build-debug
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

help:
	@echo "Targets:"
	@echo "  make / make build   build $(SO) (after 'make deps')"
	@echo "  make deps           install missing build dependencies (root if any are missing)"
	@echo "  make test-deps      install missing test tools too (cmocka, clang, pytest, lintian, ...)"
	@echo "  make run            run apache2 in the foreground on 127.0.0.1:PORT with the built MPM"
	@echo "  make run-config     only generate that configuration (build/run/apache2.conf)"
	@echo "  make test           test-deps, build, check-sources, check-exports, unit, fuzz, e2e"
	@echo "  make deb            $(DEB_DIR)/libapache2-mpm-hybrid_*.deb with dpkg-buildpackage -us -uc -b"
	@echo "  make unit           C unit tests (tests/unit)"
	@echo "  make debug          -DAP_DEBUG build, its unit tests, a short e2e subset"
	@echo "  make fuzz           libFuzzer on headscan.c for FUZZ_SECONDS (tests/fuzz)"
	@echo "  make e2e            end-to-end tests against a real apache2 (tests/e2e)"
	@echo "  make check-sources  config3.m4 and Makefile.in agree with sources.mk"
	@echo "  make check-exports  $(SO) exports only mpm_hybrid_module"
	@echo "  make install        copy the module and conf/mpm_hybrid.{load,conf} (enables nothing;"
	@echo "                      keeps an edited mpm_hybrid.conf, installs the new one as .conf.new)"
	@echo "  make uninstall      remove them again (refused while mpm_hybrid is enabled)"
	@echo "  make clean          remove build outputs"
	@echo "Variables: PORT=$(PORT) MPM=hybrid|event|worker|prefork MPM_SO=... MPM_MODULE=..."
	@echo "           RUN_DIR=... LOG_LEVEL=... HYB_SO=... APXS=$(APXS) PYTHON=$(PYTHON)"
	@echo "           FUZZ_SECONDS=30 FUZZ_CFLAGS=..."
	@echo "           DESTDIR=$(DESTDIR) APACHE_CONFDIR=$(APACHE_CONFDIR) DEB_DIR=$(DEB_DIR)"
