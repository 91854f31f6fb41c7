# Build, test and install the toolkit.  See README.md.
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= gcc
VERSION := 0.1.0

# Libraries without a pkg-config file on Debian 12 (jq, http-parser) are named
# here; every other one goes through pkg-config.
PKGS := libcurl libarchive openssl libseccomp libcap libuv libmnl libisal libzstd zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
libs_for = $(foreach d,$(1),$(if $(filter jq,$(d)),-ljq,$(if $(filter http_parser,$(d)),-lhttp_parser,$(shell pkg-config --libs $(d)))))

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS_BASE := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -DDK_VERSION='"$(VERSION)"' -Ilib $(PKG_CFLAGS)
ifeq ($(ASAN),1)
BUILD := build/asan
CFLAGS_MODE := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_MODE := -fsanitize=address,undefined
BINDIR := build/asan/bin
else
BUILD := build/release
CFLAGS_MODE := -O2
LDFLAGS_MODE :=
BINDIR := bin
endif
ALL_CFLAGS := $(CFLAGS_BASE) $(CFLAGS_MODE) $(CFLAGS)
ALL_LDFLAGS := $(LDFLAGS_MODE) $(LDFLAGS)

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIBDK := $(BUILD)/libdk.a
TOOLS := $(notdir $(patsubst %/,%,$(wildcard cmd/*/)))
TOOL_BINS := $(TOOLS:%=$(BINDIR)/%)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
# every library, for unit tests of lib/
ALL_LIBS := $(call libs_for,jq http_parser $(PKGS)) -lpthread -lm

.PHONY: all test unit bats install clean run fmt fmt-check bench deps
all: $(TOOL_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBDK): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# A tool is every .c under cmd/<tool>/; cmd/<tool>/deps names its libraries.
define tool_rule
$(1)_SRCS := $$(wildcard cmd/$(1)/*.c)
$(1)_OBJS := $$($(1)_SRCS:%.c=$(BUILD)/%.o)
$(1)_DEPS := $$(shell cat cmd/$(1)/deps 2>/dev/null)
$(BINDIR)/$(1): $$($(1)_OBJS) $(LIBDK)
	@mkdir -p $$(dir $$@)
	$$(CC) $(ALL_LDFLAGS) -o $$@ $$($(1)_OBJS) $(LIBDK) $$(call libs_for,jq $$($(1)_DEPS)) -lpthread -lm
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIBDK) tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIBDK) $(ALL_LIBS) $(ALL_LDFLAGS)

unit-bins: $(UNIT_BINS)

deps:
	scripts/install-deps test

# make test: install what is missing, build, unit tests under ASan, then bats.
test:
	scripts/install-deps test
	$(MAKE) all
	$(MAKE) ASAN=1 unit-bins
	tests/run

# the unit tests always run under ASan/LSan (tests/run takes build/asan)
unit:
	$(MAKE) ASAN=1 unit-bins
	tests/run unit

bats: all
	tests/run bats

bench: all
	scripts/install-deps bench
	bench/run

run: all
	@if [ -x bin/dockerd ]; then exec bin/dockerd $(ARGS); else echo "dockerd is not ready yet"; fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/

fmt:
	clang-format -i $(wildcard lib/*.[ch] cmd/*/*.[ch] tests/unit/*.[ch])

fmt-check:
	clang-format --dry-run --Werror $(wildcard lib/*.[ch] cmd/*/*.[ch] tests/unit/*.[ch])

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
