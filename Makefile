# nsh: each target is a plain go command you can copy.

GO      ?= go
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
export CGO_ENABLED := 0

.PHONY: all build test lint install bench run initramfs vm clean

all: build

# Both binaries, static, to bin/.
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/nsh ./cmd/nsinit

# Every test: unit, command (testscript), pseudo-terminal, real namespaces,
# mounts, cgroups and VM boots (as root; skipped with a reason otherwise).
# One package at a time: tests check that the host's mount table, hostname
# and cgroups are as they found them, and a namespace file that another
# package's test holds mounted for a moment (unshare --net=FILE) would
# look like a leak.
test: build
	$(GO) test -p 1 -count=1 -timeout 60m ./...

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt: the files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 bin/nsh bin/nsinit $(DESTDIR)$(PREFIX)/bin/

# Benchmarks against the peers (bash, dash, bwrap, unshare, tini, ...).
bench: build
	$(GO) run ./bench

# The default environment: a sandbox built from the host's own /usr.
# make run CMD='cat /proc/1/cmdline; hostname; ls /'
run: build
	bin/nsh examples/sandbox.nsh $(if $(CMD),-c '$(CMD)')

# The initramfs and its VM boot (qemu, TCG when there is no KVM).
initramfs: build
	bin/nsh -c 'image initramfs -o bin/initramfs.cpio.gz --script examples/vm/demo.nsh --module overlay examples/vm/root:/'

vm: initramfs
	bin/nsh -c 'image boot bin/initramfs.cpio.gz'

clean:
	rm -rf bin
