# ptyhub build. `make` builds build/ptyhub; `make test`, `make run`, `make bench`,
# `make fuzz` install the Debian packages they need themselves (scripts/deps.sh).

CC      ?= cc
CFLAGS_WARN := -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
               -Wno-unused-parameter
ifneq ($(CI),)
CFLAGS_WARN += -Werror
endif
CPPFLAGS += -Isrc -D_GNU_SOURCE
LDLIBS   := -luring -lcrypto -lcjson -lpthread

BUILD_DEPS := build-essential liburing-dev libssl-dev libcjson-dev pkg-config python3
TEST_DEPS  := $(BUILD_DEPS) python3 procps
# node and npm only when missing (bench/run.sh): Debian's npm package conflicts with a
# nodejs from elsewhere that brings its own npm, and apt then refuses the whole install.
BENCH_DEPS := $(BUILD_DEPS) python3 tmux dtach hyperfine chromium
FUZZ_DEPS  := $(BUILD_DEPS) clang libclang-rt-14-dev

# Every module under src/ except the program entry point goes into a library that the
# binary, the unit tests, the benchmarks and the fuzzers share.
LIB_SRC  := $(sort $(shell find src -name '*.c' ! -name 'main.c'))
# The web UI, bundled and embedded as a C table (web/build.sh, scripts/embed_assets.py).
WEB_GEN  := build/gen/web_assets.c
WEB_SRC  := $(shell find web -path web/node_modules -prune -o -type f -print) $(wildcard clients/js/src/*.js) scripts/embed_assets.py
MAIN_SRC := src/cli/main.c
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/*.c))
HDRS     := $(shell find src tests/unit -name '*.h')

# Flavours: release (build/), asan+ubsan (build/asan/), tsan (build/tsan/).
REL_CFLAGS  := -O2 -g
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
TSAN_CFLAGS := -O1 -g -fsanitize=thread

.PHONY: all deps test test-deps unit integration e2e run bench fuzz clean format format-check

all: build/ptyhub

$(WEB_GEN): $(WEB_SRC)
	web/build.sh build/gen

build/.deps-build:
	@scripts/deps.sh $(BUILD_DEPS)
	@mkdir -p build && touch $@

# $(1)=dir $(2)=cflags
define flavour
$(1)/obj/%.o: %.c $(HDRS) build/.deps-build
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $(CFLAGS_WARN) $(2) $$(CFLAGS) -c $$< -o $$@
$(1)/obj/web_assets.o: $(WEB_GEN) src/server/web_assets.h
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $(CFLAGS_WARN) $(2) $$(CFLAGS) -c $$< -o $$@
$(1)/libptyhub.a: $(patsubst %.c,$(1)/obj/%.o,$(LIB_SRC)) $(1)/obj/web_assets.o
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/ptyhub: $(1)/obj/$(MAIN_SRC:.c=.o) $(1)/libptyhub.a
	$$(CC) $(2) $$(LDFLAGS) -o $$@ $$^ $(LDLIBS)
$(1)/unit: $(patsubst %.c,$(1)/obj/%.o,$(UNIT_SRC)) $(1)/libptyhub.a
	$$(CC) $(2) $$(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef

$(eval $(call flavour,build,$(REL_CFLAGS)))
$(eval $(call flavour,build/asan,$(ASAN_CFLAGS)))
$(eval $(call flavour,build/tsan,$(TSAN_CFLAGS)))

build/bench/%: bench/%.c build/libptyhub.a
	@mkdir -p build/bench
	$(CC) $(CPPFLAGS) $(CFLAGS_WARN) $(REL_CFLAGS) -o $@ $< build/libptyhub.a $(LDLIBS)

test-deps:
	@scripts/deps.sh $(TEST_DEPS)

# The whole suite: unit tests under ASan+UBSan (both reactor backends), the cross-thread
# unit tests under TSan, then integration tests against the real binary.
test: test-deps build/ptyhub build/asan/ptyhub build/asan/unit build/tsan/unit
	@tests/run_all.sh

unit: build/asan/unit
	build/asan/unit

e2e: build/ptyhub
	@tests/e2e/run.sh

run: build/ptyhub
	build/ptyhub serve $(ARGS)

BENCH_BINS := $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))
bench: build/ptyhub $(BENCH_BINS)
	@scripts/deps.sh $(BENCH_DEPS)
	@bench/run.sh

FUZZ_SECONDS ?= 20
FUZZ_BINS := $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
build/fuzz/%: fuzz/%.c $(LIB_SRC) $(WEB_GEN) $(HDRS)
	@scripts/deps.sh $(FUZZ_DEPS)
	@mkdir -p build/fuzz
	clang $(CPPFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< $(LIB_SRC) $(WEB_GEN) $(LDLIBS)
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	    name=$$(basename $$f); mkdir -p build/fuzz/corpus-$$name; \
	    echo "== $$name ($(FUZZ_SECONDS)s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus-$$name $$([ -d fuzz/corpus/$$name ] && echo fuzz/corpus/$$name) > build/fuzz/$$name.log 2>&1 || { tail -n 40 build/fuzz/$$name.log; exit 1; }; grep -E "stat::(number_of_executed_units|new_units_added|peak_rss_mb)" build/fuzz/$$name.log; \
	done

FORMAT_FILES = $$(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'bench/*.c' 'fuzz/*.c')
format:
	@scripts/deps.sh clang-format
	clang-format -i $(FORMAT_FILES)
format-check:
	@scripts/deps.sh clang-format
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: clean"

clean:
	rm -rf build
