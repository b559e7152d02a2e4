# berth: build, test, run the demo, benchmark.
# Every target installs the Debian packages it needs when they are missing.

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
export PATH := /opt/swift/usr/bin:$(PATH)

# What berth links, and what its tests and demo use.
DEB_PACKAGES := pkg-config libyaml-dev libcap-dev libseccomp-dev libarchive-dev libzstd-dev libnftables-dev gcc libc6-dev busybox-static iproute2 nftables python3-jsonschema umoci skopeo zstd
# The registry client's tests: a real registry (and its htpasswd, test certificates), images made by umoci, pushed by skopeo.
DEB_PACKAGES += openssl docker-registry apache2-utils
# The LAN tests: berth runs under nsenter in a network namespace that plays the host.
DEB_PACKAGES += util-linux
# --disable-local-rpath: berth-init is a static PIE in release, and glibc's start-up code of
# a static PIE refuses one with a DT_RUNPATH (SwiftPM adds $$ORIGIN; a static stdlib needs none).
RELEASE_FLAGS := -c release --static-swift-stdlib --disable-local-rpath
BERTH_RELEASE := .build/release/berth
# `make install`: berth and berth-init, side by side (berth runs the berth-init beside it).
PREFIX ?= /usr/local
DEMO_SPEC := specs/demo.yaml
# The demo's root filesystem: busybox-static with its applets (not in git).
DEMO_ROOTFS := specs/rootfs/busybox
# The demo's image: the same busybox, packed by umoci into an OCI layout (not in git).
DEMO_IMAGE := specs/images/busybox

.PHONY: all build release install deps run demo-down test bench clean test-v2 fuzz

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q jsonschema
	@# berth export kubernetes is checked by Kubernetes' own schemas, strictly (Tests/BerthConvertTests).
	@command -v kubernetes-validate >/dev/null 2>&1 || python3 -m pip install -q kubernetes-validate
	@python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography
	@# berth reconcile --metrics-address is scraped and parsed by prometheus-client's parser (Tests/BerthTests/MetricsTests).
	@python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install -q prometheus-client

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)
	@# berth-init started by hand says it is not a command (exit 2); anything else is a broken link.
	@$(dir $(BERTH_RELEASE))berth-init 2>/dev/null; test $$? -eq 2 || { echo "berth-init does not start" >&2; exit 1; }

install: release
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BERTH_RELEASE) $(dir $(BERTH_RELEASE))berth-init $(DESTDIR)$(PREFIX)/bin/

# Apply the demo spec for real and show what runs. `make demo-down` removes it.
run: release $(DEMO_IMAGE)/index.json
	$(BERTH_RELEASE) apply -f $(DEMO_SPEC)
	$(BERTH_RELEASE) status -p demo

demo-down: release
	$(BERTH_RELEASE) destroy -f $(DEMO_SPEC)

# An OCI image made the way users make them: umoci unpacks an empty image into a bundle,
# busybox goes in, umoci repacks it into a layer and sets the config.
$(DEMO_IMAGE)/index.json: $(DEMO_ROOTFS)/bin/busybox | deps
	rm -rf $(DEMO_IMAGE) $(DEMO_IMAGE).bundle
	mkdir -p $(dir $(DEMO_IMAGE))
	umoci init --layout $(DEMO_IMAGE)
	umoci new --image $(DEMO_IMAGE):latest
	umoci unpack --image $(DEMO_IMAGE):latest $(DEMO_IMAGE).bundle
	cp -a $(DEMO_ROOTFS)/. $(DEMO_IMAGE).bundle/rootfs/
	chmod 1777 $(DEMO_IMAGE).bundle/rootfs/tmp
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > $(DEMO_IMAGE).bundle/rootfs/etc/passwd
	printf 'root:x:0:\nnogroup:x:65534:\n' > $(DEMO_IMAGE).bundle/rootfs/etc/group
	umoci repack --image $(DEMO_IMAGE):latest $(DEMO_IMAGE).bundle
	umoci config --image $(DEMO_IMAGE):latest --config.env PATH=/bin --config.cmd /bin/sh
	umoci gc --layout $(DEMO_IMAGE)
	rm -rf $(DEMO_IMAGE).bundle

$(DEMO_ROOTFS)/bin/busybox: | deps
	mkdir -p $(DEMO_ROOTFS)/bin $(DEMO_ROOTFS)/proc $(DEMO_ROOTFS)/dev $(DEMO_ROOTFS)/sys $(DEMO_ROOTFS)/tmp $(DEMO_ROOTFS)/etc
	cp /bin/busybox $(DEMO_ROOTFS)/bin/busybox
	cd $(DEMO_ROOTFS)/bin && for applet in $$(./busybox --list); do [ -e $$applet ] || ln -s busybox $$applet; done

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# berth on a real cgroup v2 kernel: Debian's kernel under qemu (vmtest/README.md).
test-v2: deps
	vmtest/run.sh

# Benchmarks side by side with runc, crun and the CNI bridge plugin (docs/benchmarks.md);
# results in bench/results/latest.{md,json}. QUICK=1: tiny counts, a smoke run.
bench: release
	BERTH=$(BERTH_RELEASE) BERTH_BENCH=$(dir $(BERTH_RELEASE))berth-bench bench/run.sh $(if $(QUICK),--quick)

# libFuzzer targets (Fuzz/): each runs FUZZ_SECONDS, seeded from the fixtures and Fuzz/seeds/;
# a crash fails the target and leaves its input in .build/fuzz/crashes/.
FUZZ_SECONDS ?= 60
fuzz: deps
	Fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build
