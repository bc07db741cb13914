# Ember's two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
SWIFT ?= swift
EMBER := .build/debug/ember
PYTEST_FLAGS ?= -q

.PHONY: demo test zoo build system-deps python-deps python-package swift-test python-test fuzz fuzz-build fuzz-smoke clean

demo: build python-deps
	$(PYTHON) scripts/demo.py

test: build python-deps swift-test fuzz-smoke python-test

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

# PyTorch's NVIDIA wheels carry NVRTC, so the generated CUDA kernels are compiled in the tests
# even on a machine without a GPU.
CUDA_LIBRARY_PATH = $$($(PYTHON) -c "import nvidia, os; p = nvidia.__path__[0]; print(':'.join(os.path.join(p, d, 'lib') for d in ('cu13', 'cudnn')))" 2>/dev/null)

swift-test: build python-deps
	EMBER_CUDA_LIBRARY_PATH="$(CUDA_LIBRARY_PATH)" $(SWIFT) test --skip-build

# The `ember` Python package: builds libEmberC in release with the Swift runtime linked in statically.
python-package: python-deps
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-build-isolation ./python

python-test: build python-deps python-package
	EMBER_BIN=$(CURDIR)/$(EMBER) $(PYTHON) -m pytest tests/python $(PYTEST_FLAGS)

# The model zoo benchmark (bench/zoo) at full size on the CPU; writes its table to bench/results/.
zoo: build python-deps
	EMBER_BIN=$(CURDIR)/$(EMBER) $(PYTHON) bench/zoo/run.py --backend cpu --size full --batch 1 --batch 8

# Coverage-guided fuzzing of the readers of untrusted files (.onnx, .pt2, engines, .npy): libFuzzer
# with AddressSanitizer, built in its own folder so the normal build is left alone, then
# FUZZ_SECONDS per reader from the seeds in fuzz/corpus. Any crash fails it (see fuzz/run.sh).
# clang, lld, libFuzzer and ASan's runtime all come with the Swift toolchain. `make test` runs
# fuzz-smoke: FUZZ_SMOKE_SECONDS per reader, about 5 minutes with the build on 2 cores.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_BUILD := .build-fuzz

fuzz-build: system-deps
	$(SWIFT) build -c debug --scratch-path $(FUZZ_BUILD) --product ember-fuzz \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -DEMBER_FUZZ -Xswiftc -use-ld=lld

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_BUILD)/debug/ember-fuzz $(FUZZ_BUILD)/fuzz

fuzz-smoke: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) fuzz/run.sh $(FUZZ_BUILD)/debug/ember-fuzz $(FUZZ_BUILD)/fuzz

clean:
	rm -rf .build $(FUZZ_BUILD)
