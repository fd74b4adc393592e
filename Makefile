# loops: one CLI for the three Linux loopbacks (network, block, audio).
# Run `make help` for the targets.

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN     := bin/loops
PREFIX  ?= /usr/local
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(PATH):/usr/local/go/bin:/usr/sbin:/sbin

# Debian packages the tests, the demo and the benchmarks use.
# (command they provide, or a file for packages without one: package)
DEPS := ip:iproute2 nft:nftables ifconfig:net-tools hyperfine:hyperfine getent:libc-bin setpriv:util-linux sysctl:procps python3:python3 mkfs.ext4:e2fsprogs mksquashfs:squashfs-tools mkfs.erofs:erofs-utils mkfs.xfs:xfsprogs mkfs.btrfs:btrfs-progs sfdisk:fdisk blkid:util-linux losetup:mount mkfs.vfat:dosfstools mkfs.exfat:exfatprogs mkfs.f2fs:f2fs-tools mkfs.ubifs:mtd-utils drbdmeta:drbd-utils mkfs.jfs:jfsutils mkfs.reiserfs:reiserfsprogs mkfs.nilfs2:nilfs-tools mkntfs:ntfs-3g cryptsetup:cryptsetup-bin pvcreate:lvm2 mdadm:mdadm make-bcache:bcache-tools genromfs:genromfs mcopy:mtools mount.exfat-fuse:exfat-fuse qemu-img:qemu-utils qemu-storage-daemon:qemu-system-common mkudffs:udftools udfclient:udfclient genisoimage:genisoimage 7zz:7zip xorriso:xorriso fusermount3:fuse3 fuseiso:fuseiso fusefat:fusefat pulseaudio:pulseaudio pactl:pulseaudio-utils pipewire:pipewire pipewire-pulse:pipewire-pulse wireplumber:wireplumber /usr/lib/ISOLINUX/isohdpfx.bin:isolinux

.DEFAULT_GOAL := help

.PHONY: help
help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install the Debian packages loops' tests and demo need, when missing
	@missing=""; for d in $(DEPS); do cmd=$${d%%:*}; pkg=$${d#*:}; \
	  case $$cmd in /*) [ -e $$cmd ] && continue;; *) command -v $$cmd >/dev/null 2>&1 && continue;; esac; \
	  missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing missing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	else echo "deps: all Debian packages present"; fi

# The version and commit `loops --version` prints (git describe; without a
# tag yet, the short commit). Override: make build VERSION=1.2.0 COMMIT=...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  = -X github.com/loops-cli/loops/cmd/loops/cli.version=$(VERSION) -X github.com/loops-cli/loops/cmd/loops/cli.commit=$(COMMIT)

# The linker writes its output through mmap, in pieces, and the page cache
# keeps such a file in 4 KiB pages; a file written front to back (as
# install(1), cp or dpkg write it) is kept in large folios, and a command
# started from it ran 0.25 ms faster here (docs/benchmarks.md). So the
# binaries are linked to a scratch name and installed from it, and
# bin/loops starts as an installed loops does.
.PHONY: build
build: ## build bin/loops and bin/loops-serve (static, stamped with VERSION and COMMIT)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN).linked ./cmd/loops
	CGO_ENABLED=0 $(GO) build -trimpath -o $(dir $(BIN))loops-serve.linked ./cmd/loops-serve
	install -m 0755 $(BIN).linked $(BIN)
	install -m 0755 $(dir $(BIN))loops-serve.linked $(dir $(BIN))loops-serve
	rm -f $(BIN).linked $(dir $(BIN))loops-serve.linked

# Developer tools with modules of their own (their dependencies stay out
# of the go.mod loops' importers resolve): ./... at the root skips them, so
# test and lint name them.
TOOLMODS := cmd/loops-deb

.PHONY: deb
deb: build ## build bin/loops_VERSION_ARCH.deb: the binary, man pages, completions, copyright (nfpm)
	rm -f bin/loops_*.deb
	$(GO) -C cmd/loops-deb build -o $(CURDIR)/bin/loops-deb .
	bin/loops-deb -binary $(BIN) -version '$(VERSION)' -out bin

.PHONY: deb-check
deb-check: deb ## install the .deb in a fresh Debian chroot: --version, man, bash completion, dpkg -r leaves nothing (root)
	$(SUDO) ./cmd/loops-deb/deb-check.sh bin/loops_*.deb

.PHONY: install
install: build ## install loops, its man pages and shell completions under $(PREFIX)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/loops
	install -D -m 0755 $(dir $(BIN))loops-serve $(DESTDIR)$(PREFIX)/lib/loops/loops-serve
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BIN) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/loops
	$(BIN) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_loops
	$(BIN) completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/loops.fish

.PHONY: docs
docs: ## regenerate the man pages and CLI reference in docs/ from the command tree
	$(GO) run ./cmd/gen-docs docs

.PHONY: test
test: deps lint ## run every test (root tests too when run as root); packages one at a time, as audio timing wants a quiet machine
	$(GO) test -count=1 -p 1 -timeout 15m ./...
	for m in $(TOOLMODS); do $(GO) -C $$m test -count=1 ./... || exit 1; done

.PHONY: fuzz
fuzz: ## run each fuzz target for a while (FUZZTIME=30s)
	$(GO) test -run '^$$' -fuzz FuzzParseHosts -fuzztime $(or $(FUZZTIME),30s) ./netloop/
	$(GO) test -run '^$$' -fuzz FuzzQuoteModuleArg -fuzztime $(or $(FUZZTIME),30s) ./audioloop/
	$(GO) test -run '^$$' -fuzz FuzzProbe -fuzztime $(or $(FUZZTIME),30s) ./blockloop/probe/
	$(GO) test -run '^$$' -fuzz FuzzReadPartitions -fuzztime $(or $(FUZZTIME),30s) ./blockloop/probe/
	$(GO) test -run '^$$' -fuzz FuzzWriteOps -fuzztime $(or $(FUZZTIME),30s) -fuzzminimizetime 2s ./blockloop/fat/
	$(GO) test -run '^$$' -fuzz FuzzOpenVolume -fuzztime $(or $(FUZZTIME),30s) -fuzzminimizetime 2s ./blockloop/fat/
	for f in FuzzPathTable FuzzSUSP FuzzDirRecord FuzzOpen; do \
	  $(GO) test -run '^$$' -fuzz $$f -fuzztime $(or $(FUZZTIME),30s) -fuzzminimizetime 2s ./blockloop/iso9660/ || exit 1; done
	for t in udf:FuzzOpen udf:FuzzFID udf:FuzzAllocDescs fat:FuzzOpen fat:FuzzDirEntries exfat:FuzzOpen exfat:FuzzDirEntries ntfs:FuzzOpen ntfs:FuzzRunList ntfs:FuzzLZNT1 \
	    disk/qcow2:FuzzOpen disk/qcow2:FuzzL2Entry disk/qcow2:FuzzHeader disk/vmdk:FuzzOpen disk/vhdx:FuzzOpen disk/vdi:FuzzOpen disk/vpc:FuzzOpen layer/luks:FuzzOpen \
	    layer/lvm:FuzzReadPV layer/lvm:FuzzParseMetadata layer/md:FuzzOpen \
	    disk/diskpipe:FuzzClient disk/diskpipe:FuzzServeReads erofs:FuzzWrite erofs/erofstest:FuzzDecode; do \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(or $(FUZZTIME),30s) -fuzzminimizetime 2s ./blockloop/$${t%%:*}/ || exit 1; done

.PHONY: stress
stress: ## the reliability and security suite, full counts (make test runs a short form)
	LOOPS_STRESS=full $(GO) test -count=1 -timeout 30m ./internal/stress/

.PHONY: bench
bench: deps build ## time loops beside the classic tools, alternating, medians; write docs/benchmarks.md (RUNS=N, BENCH_QUICK=1)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/loops-bench ./cmd/loops-bench
	$(SUDO) ./bin/loops-bench -loops $(BIN) -go $(GO) -out docs/benchmarks.md $(if $(RUNS),-runs $(RUNS)) $(if $(BENCH_QUICK),-quick) $(if $(BENCH_ONLY),-only $(BENCH_ONLY))
	@cat docs/benchmarks.md

.PHONY: demo
demo: deps build ## a tour of lo in a fresh network namespace (touches nothing on the host)
	./demo.sh $(BIN)

.PHONY: lint
lint: ## gofmt, go vet, and go.mod/go.sum tidy (loops' module and each of TOOLMODS)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@for m in $(TOOLMODS); do $(GO) -C $$m vet ./... && \
	  { $(GO) -C $$m mod tidy -diff || { echo "$$m/go.mod, go.sum are not tidy: run go mod tidy in $$m"; exit 1; }; } || exit 1; done

.PHONY: clean
clean: ## remove build output
	rm -rf bin
