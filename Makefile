# The two commands of the README. Both install missing Debian packages first (quietly when
# everything is there), then configure and build with CMake in build/.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
DEMO_DIR ?= demo
VALIDATE_DIR ?= validate

.PHONY: all deps configure build test demo validate clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >$(BUILD_DIR).configure.log 2>&1 \
	  || (cat $(BUILD_DIR).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD_DIR)/cli/neurocohort $(DEMO_DIR)

# The shipped model's volumes against the planted effects of 60 synthetic subjects (~7 min).
validate: build
	@bash scripts/validate_model.sh $(BUILD_DIR)/cli/neurocohort $(VALIDATE_DIR)

clean:
	@rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log $(DEMO_DIR) $(VALIDATE_DIR)
