# Ember's two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
SWIFT ?= swift
EMBER := .build/debug/ember
PYTEST_FLAGS ?= -q

.PHONY: demo test build deps python-deps swift-test python-test clean

demo: build python-deps
	$(PYTHON) scripts/demo.py

test: build python-deps swift-test python-test

# Swift packages come from the package manager; the ONNX protobuf code is generated and committed.
build:
	$(SWIFT) build --build-tests

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
