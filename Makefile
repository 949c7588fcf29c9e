# kcs: the Key Coding System. GNU make.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
UNITDIR   ?= $(PREFIX)/lib/systemd/system
# udev reads /usr/lib/udev/rules.d and /etc/udev/rules.d, not /usr/local:
# packagers and PREFIX=/usr install where udev looks; others set UDEVRULESDIR
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d

# SAN=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer into build-san/.
ifeq ($(SAN),1)
B        ?= build-san
SANFLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B        ?= build
SANFLAGS  =
endif

# pkg-config name -> Debian package, for the message when one is missing
PKGS = libcurl:libcurl4-openssl-dev libcjson:libcjson-dev libusb-1.0:libusb-1.0-0-dev \
       libsodium:libsodium-dev sqlite3:libsqlite3-dev libmicrohttpd:libmicrohttpd-dev libpq:libpq-dev \
       umockdev-1.0:libumockdev-dev
ifneq ($(filter-out clean install-deps,$(or $(MAKECMDGOALS),all)),)
$(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(word 1,$(subst :, ,$p)) && echo y),,\
  $(error missing $(word 1,$(subst :, ,$p)): install the Debian package $(word 2,$(subst :, ,$p)) (or run scripts/deps))))
endif
PKGNAMES = $(filter-out umockdev-1.0,$(foreach p,$(PKGS),$(word 1,$(subst :, ,$p))))
# the clients link no store engine and no HTTP server
CLIENT_PKGS = libcurl libcjson libsodium

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
CPPFLAGS += -D_GNU_SOURCE -Ilib $(shell pkg-config --cflags $(PKGNAMES))
ALLCFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
LDLIBS_ALL = $(shell pkg-config --libs $(PKGNAMES)) -lpthread
LDLIBS_CLIENT = $(shell pkg-config --libs $(CLIENT_PKGS))
ALLLDFLAGS = $(LDFLAGS) $(SANFLAGS) -pie -Wl,-z,relro,-z,now

LIB_SRC   = $(wildcard lib/*.c)
KCSD_SRC  = $(wildcard cmd/kcsd/*.c)
CLIENTS   = kcs-admin kcs-cas kcs-code kcs-cut kcs-download kcs-hotline kcs-keywriter kcs-login kcs-keypool kcs-mailroom kcs-ticket
BINS      = $(B)/kcsd $(addprefix $(B)/,$(CLIENTS))
MANS      = $(wildcard man/*.[1-8])

obj = $(patsubst %.c,$(B)/%.o,$(1))

all: $(BINS) $(B)/kcs-kwemu

$(B)/%.o: %.c lib/kcs.h $(wildcard cmd/kcsd/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c -o $@ $<

$(B)/libkcs.a: $(call obj,$(LIB_SRC))
	$(AR) rcs $@ $^

$(B)/kcsd: $(call obj,$(KCSD_SRC)) $(B)/libkcs.a
	$(CC) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(B)/kcs-%: $(B)/cmd/kcs-%.o $(B)/libkcs.a
	$(CC) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS_CLIENT)

# the tools that use a key writer link libusb
$(B)/kcs-keywriter $(B)/kcs-code $(B)/kcs-cas: $(B)/kcs-%: $(B)/cmd/kcs-%.o $(B)/libkcs.a
	$(CC) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS_CLIENT) $(shell pkg-config --libs libusb-1.0)

# the emulated key writer, for tests and the demo (not installed)
$(B)/kcs-kwemu: tests/kwemu.c $(B)/libkcs.a
	$(CC) $(CPPFLAGS) $(shell pkg-config --cflags umockdev-1.0) $(ALLCFLAGS) $(ALLLDFLAGS) -o $@ $^ \
	    $(shell pkg-config --libs umockdev-1.0 libusb-1.0 libsodium libcjson)

# unit tests (cmocka)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNITS    = $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

$(B)/tests/%: tests/unit/%.c $(B)/libkcs.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

# the store's conformance test links the store and its engines
STORE_OBJ = $(call obj,$(wildcard cmd/kcsd/store*.c) cmd/kcsd/schema.c cmd/kcsd/db.c cmd/kcsd/db_sqlite.c \
	cmd/kcsd/db_pg.c)
$(B)/tests/test_store: tests/unit/test_store.c $(STORE_OBJ) $(B)/libkcs.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Icmd $(ALLCFLAGS) $(ALLLDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

# Every test, under prove: unit tests (cmocka, TAP) and end-to-end tests
# (bats, against a real kcsd each). JOBS=N runs N test files at once.
# DB=pg runs them on PostgreSQL: a throwaway cluster that tests/pg starts
# and stops, a fresh database for each test.
JOBS ?= 2
DB ?= sqlite
E2E = $(wildcard tests/e2e/*.bats)
check: all $(UNITS) lint
ifeq ($(DB),pg)
	@d=$$(mktemp -d /tmp/kcs-pg.XXXXXX) && tests/pg start "$$d" > /dev/null && \
	KCS_STORE_URL=$$(tests/pg url "$$d" units) KCS_PG=$$d KCS_BIN=$(CURDIR)/$(B) \
	    prove -j$(JOBS) --comments --exec tests/tap $(B)/tests/test_store $(E2E); \
	rc=$$?; tests/pg stop "$$d"; rm -rf "$$d"; exit $$rc
else
	KCS_BIN=$(CURDIR)/$(B) prove -j$(JOBS) --comments --exec tests/tap $(UNITS) $(E2E)
endif

lint:
	mandoc -Tlint -Wwarning $(MANS)

bench: all $(B)/bench/mhd_const
	scripts/bench $(B)

$(B)/bench/mhd_const: tests/bench/mhd_const.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) $(ALLLDFLAGS) -o $@ $< $(shell pkg-config --libs libmicrohttpd) -lpthread

# libFuzzer on the parsers of untrusted text, of the key writer's frames
# and data, on both sides, and of GKI key-read files (clang): FUZZ_SECONDS=N
FUZZ_SECONDS ?= 60
FUZZ_SRC = lib/json.c lib/vin.c lib/code.c lib/util.c lib/err.c lib/crypto.c
fuzz:
	scripts/deps --fuzz
	@mkdir -p build-fuzz/corpus
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
	    -o build-fuzz/fuzz_parse tests/fuzz/fuzz_parse.c $(FUZZ_SRC) \
	    $(shell pkg-config --libs libcjson libsodium)
	build-fuzz/fuzz_parse -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build-fuzz/ \
	    build-fuzz/corpus tests/fuzz/seeds
	@mkdir -p build-fuzz/corpus-kw
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
	    -o build-fuzz/fuzz_kwframe tests/fuzz/fuzz_kwframe.c lib/kwframe.c \
	    $(shell pkg-config --libs libcjson)
	build-fuzz/fuzz_kwframe -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -artifact_prefix=build-fuzz/ \
	    build-fuzz/corpus-kw
	@mkdir -p build-fuzz/corpus-kwdata
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
	    -o build-fuzz/fuzz_kwdata tests/fuzz/fuzz_kwdata.c lib/kwframe.c lib/kwmsg.c lib/kwdev.c lib/kwhost.c $(FUZZ_SRC) \
	    $(shell pkg-config --libs libcjson libsodium)
	build-fuzz/fuzz_kwdata -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build-fuzz/ \
	    build-fuzz/corpus-kwdata
	@mkdir -p build-fuzz/corpus-cut
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
	    -o build-fuzz/fuzz_cuttable tests/fuzz/fuzz_cuttable.c lib/cuttable.c $(FUZZ_SRC) \
	    $(shell pkg-config --libs libcjson libsodium)
	build-fuzz/fuzz_cuttable -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build-fuzz/ \
	    build-fuzz/corpus-cut tests/fuzz/seeds-cut
	@mkdir -p build-fuzz/corpus-gki
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
	    -o build-fuzz/fuzz_gki tests/fuzz/fuzz_gki.c lib/gki.c lib/kwframe.c lib/err.c \
	    $(shell pkg-config --libs libcjson)
	build-fuzz/fuzz_gki -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -artifact_prefix=build-fuzz/ \
	    build-fuzz/corpus-gki tests/fuzz/seeds-gki

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(UDEVRULESDIR)
	install -m 755 $(B)/kcsd $(DESTDIR)$(SBINDIR)/kcsd
	install -m 755 $(addprefix $(B)/,$(CLIENTS)) $(DESTDIR)$(BINDIR)/
	for m in $(MANS); do install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/; done
	for c in kcsd $(CLIENTS); do \
	    install -m 644 completions/kcs.bash $(DESTDIR)$(BASHCOMPDIR)/$$c; done
	install -m 644 completions/_kcs $(DESTDIR)$(ZSHCOMPDIR)/_kcs
	install -m 644 completions/kcs.fish $(DESTDIR)$(FISHCOMPDIR)/kcs.fish
	sed 's|@SBINDIR@|$(SBINDIR)|' scripts/kcsd.service > $(DESTDIR)$(UNITDIR)/kcsd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/kcsd.service
	sed 's|@BINDIR@|$(BINDIR)|' scripts/kcs-maintain.service > $(DESTDIR)$(UNITDIR)/kcs-maintain.service
	install -m 644 scripts/kcs-maintain.timer $(DESTDIR)$(UNITDIR)/kcs-maintain.timer
	chmod 644 $(DESTDIR)$(UNITDIR)/kcs-maintain.service
	install -m 644 scripts/70-kcs-keywriter.rules $(DESTDIR)$(UDEVRULESDIR)/70-kcs-keywriter.rules

clean:
	rm -rf build build-san build-fuzz

.PHONY: all check lint bench fuzz install clean
