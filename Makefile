# Ember's two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
SWIFT ?= swift
EMBER := .build/debug/ember
PYTEST_FLAGS ?= -q

.PHONY: demo test build system-deps python-deps swift-test python-test clean

demo: build python-deps
	$(PYTHON) scripts/demo.py

test: build python-deps swift-test python-test

# Swift packages come from the package manager; the ONNX protobuf code is generated and committed.
build: system-deps
	$(SWIFT) build --build-tests

# Debian packages: oneDNN's headers (the CPU backend loads the library itself at run time) and
# xxHash's header (compiled in, for engine checksums).
system-deps:
	@test -f /usr/include/dnnl.h -a -f /usr/include/xxhash.h || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libdnnl-dev libxxhash-dev; }

python-deps: .build/python-deps.stamp

.build/python-deps.stamp: requirements.txt
	@mkdir -p .build
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r requirements.txt
	@touch $@

swift-test: build
	$(SWIFT) test --skip-build

python-test: build python-deps
	EMBER_BIN=$(CURDIR)/$(EMBER) $(PYTHON) -m pytest tests/python $(PYTEST_FLAGS)

clean:
	rm -rf .build
