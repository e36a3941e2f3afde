# eco-base — one Makefile for the whole suite.
#   make run       deps + build + start everything locally (ecoctl) and print the endpoints
#   make test      deps + build + every test (C unit tests under ASan+UBSan, integration, black-box, policy)
#   make deps | build | sanitize | bench | fmt | clean
SHELL := /bin/bash
.DEFAULT_GOAL := build
ROOT := $(abspath .)
export ECO_TOOLS_DIR ?= $(HOME)/.cache/eco-base
TOOLS := $(ROOT)/.tools

BUILD ?= build
SAN ?= 0
CC := gcc
JOBS ?= $(shell nproc)

SERVICES := root-gateway api-gateway ai-service engine-adapter index-service job-poller
TOOLNAMES := ecoctl engine-sim qyaml
LIBS := core metrics http rpc rpc_grpc rpc_h2 store auth governance engines resilience
# Link order: higher libs first. libs/rpc needs one server transport: rpc_grpc (gRPC core, also the
# clients) everywhere but in engine-adapter, which serves gRPC with rpc_h2 (nghttp2) and so does not
# load libgrpc at all (its idle memory).
LINK_LIBS := http rpc_grpc rpc store auth governance engines resilience metrics core
H2_LINK_LIBS := $(subst rpc_grpc,rpc_h2,$(LINK_LIBS))

GEN := $(BUILD)/gen
CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers -Wno-unused-parameter \
	-D_GNU_SOURCE -DH2O_USE_LIBUV=0 -fno-omit-frame-pointer -pthread \
	$(addprefix -Ilibs/,$(LIBS)) -I$(GEN) -I/usr/include/hiredis -I/usr/include/postgresql \
	-DECO_VERSION='"$(shell cat VERSION 2>/dev/null || echo 0.0.0)"'
ifeq ($(SAN),1)
CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
endif
SYSLIBS := -Wl,--as-needed -lh2o-evloop -lnghttp2 -lgrpc -lgpr -lprotobuf-c -ljansson -lyaml -lhiredis -lrdkafka -lpq \
	-lcurl -largon2 -lssl -lcrypto -lz -lm -lpthread

PROTOS := $(shell find proto -name '*.proto' 2>/dev/null)
PROTO_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PROTO_O := $(PROTO_C:.c=.o)

lib_srcs = $(filter-out libs/$(1)/test_% libs/$(1)/fuzz_%,$(wildcard libs/$(1)/*.c))
lib_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(call lib_srcs,$(1)))
archives = $(foreach l,$(1),$(BUILD)/lib/libeco_$(l).a) $(BUILD)/lib/libeco_proto.a
LIB_ARCHIVES := $(call archives,$(LINK_LIBS) rpc_h2)
# A group: libs/rpc and its transport refer to each other.
LINK := -Wl,--start-group $(call archives,$(LINK_LIBS)) -Wl,--end-group $(SYSLIBS)
H2_LINK := -Wl,--start-group $(call archives,$(H2_LINK_LIBS)) -Wl,--end-group $(SYSLIBS)
# libs/rpc_h2's tests call its server with the gRPC core client: rpc_h2 first, so its server wins.
H2_TEST_LINK := -Wl,--start-group $(call archives,$(subst rpc_h2,rpc_h2 rpc_grpc,$(H2_LINK_LIBS))) -Wl,--end-group \
	$(SYSLIBS)
engine-adapter_LINK := $(H2_LINK)
# index-service links the FAISS C API that scripts/deps.sh builds into the tools cache (its
# libfaiss_c.a over Debian's static libfaiss.a, with libstdc++, OpenMP and OpenBLAS).
FAISS_DIR := $(ECO_TOOLS_DIR)/faiss
index-service_EXTRA := $(shell cat $(FAISS_DIR)/link.txt 2>/dev/null)
$(BUILD)/obj/services/index-service/%.o: CFLAGS += $(shell cat $(FAISS_DIR)/cflags.txt 2>/dev/null)

BINS := $(addprefix $(BUILD)/bin/,$(SERVICES) $(TOOLNAMES))
UNIT_SRCS := $(foreach l,$(LIBS),$(wildcard libs/$(l)/test_*.c)) $(wildcard services/*/test_*.c) $(wildcard tools/*/test_*.c)
UNIT_BINS := $(patsubst %.c,$(BUILD)/test/%,$(UNIT_SRCS))

.PHONY: all build build-tests deps run test test-unit sanitize bench fmt fmt-check clean
all build: $(BINS)
build-tests: $(UNIT_BINS)

# ---- protobuf (protoc-c output lives under build/) ----
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto $<
# Generated sources are kept (not intermediates), and every generated object waits for every
# generated header (jobs.proto includes inference.proto).
.SECONDARY: $(PROTO_C) $(PROTO_C:.c=.h)
$(PROTO_O): $(PROTO_C)
$(GEN)/%.pb-c.o: $(GEN)/%.pb-c.c
	$(CC) $(CFLAGS) -Wno-shadow -c $< -o $@
$(BUILD)/lib/libeco_proto.a: $(PROTO_O)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# ---- C objects: every object depends on the generated headers ----
$(BUILD)/obj/%.o: %.c $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
-include $(shell find $(BUILD)/obj $(BUILD)/test -name '*.d' 2>/dev/null)

define LIB_RULE
$(BUILD)/lib/libeco_$(1).a: $(call lib_objs,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LIBS),$(eval $(call LIB_RULE,$(l))))

# Services and tools: every .c of the directory except tests and fuzzers.
bin_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(1)/test_% $(1)/fuzz_%,$(wildcard $(1)/*.c)))
define BIN_RULE
$(BUILD)/bin/$(2): $(call bin_objs,$(1)) $(LIB_ARCHIVES)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDSAN) -pthread -o $$@ $(call bin_objs,$(1)) $(or $($(2)_LINK),$(LINK)) $($(2)_EXTRA)
endef
$(foreach s,$(SERVICES),$(eval $(call BIN_RULE,services/$(s),$(s))))
$(foreach t,$(TOOLNAMES),$(eval $(call BIN_RULE,tools/$(t),$(t))))

# Unit tests: one binary per test_*.c, linked with cmocka and all libs.
$(BUILD)/test/%: %.c $(LIB_ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDSAN) -MMD -MP -o $@ $< $(LINK) -lcmocka
$(BUILD)/test/libs/rpc_h2/%: libs/rpc_h2/%.c $(LIB_ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDSAN) -MMD -MP -o $@ $< $(H2_TEST_LINK) -lcmocka

# ---- top-level workflows ----
deps:
	@bash scripts/deps.sh

# deps first, then a new make reads what deps wrote (the FAISS flags of index-service).
run: deps
	@$(MAKE) --no-print-directory build && $(BUILD)/bin/ecoctl run

test: deps
	@bash tests/run.sh

test-unit: $(UNIT_BINS)
	@bash tests/run_unit.sh $(UNIT_BINS)

# Every C unit test on the ASan+UBSan build (with the real servers the store tests need).
sanitize: deps
	@bash tests/run.sh --unit-only

bench: deps
	@$(MAKE) --no-print-directory build && bash bench/run.sh

fmt:
	@git ls-files '*.c' '*.h' | xargs -r clang-format -i

fmt-check:
	@git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run --Werror

clean:
	rm -rf build
