# loglet — see README.md. Every target installs what it needs itself.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
IMAGE_TAG ?= $(VERSION)
# The commit's time, so the same commit gives the same image.
CREATED := $(shell git log -1 --format=%cI 2>/dev/null)
REVISION := $(shell git rev-parse HEAD 2>/dev/null)
BENCH_DIR ?= $(or $(TMPDIR),/tmp)/loglet-bench

FUZZTIME ?= 60s
FUZZ_TARGETS := \
	webhook:FuzzPreview \
	sidecar/record:FuzzAppendString \
	sidecar/source:FuzzSplit \
	sidecar/source:FuzzSplitWide \
	sidecar/source:FuzzOpen \
	sidecar/config:FuzzLoad \
	sidecar/modes:FuzzLogConfigLoad \
	sidecar/podlog:FuzzResend \
	sidecar/podlog:FuzzResumeMark \
	sidecar/node:FuzzParsePath \
	sidecar/pod:FuzzParseLabels sidecar/pod:FuzzResourceEnv \
	sidecar/checkpoint:FuzzLoad \
	sidecar/pipeline:FuzzModel \
	sidecar/memlimit:FuzzParseLimit \
	sidecar/memlimit:FuzzCgroup \
	sidecar/parse:FuzzSyslog \
	sidecar/parse:FuzzInbox \
	sidecar/receive/syslog:FuzzFraming \
	sidecar/receive/syslog:FuzzOctetCounting \
	sidecar/receive/lumberjack:FuzzConn \
	sidecar/receive/lumberjack:FuzzEvent \
	sidecar/parse:FuzzPreset \
	sidecar/parse:FuzzPresetCRI \
	sidecar/process:FuzzRedact \
	hub/query:FuzzRecords \
	hub/query:FuzzParams \
	hub/query:FuzzQuickFields \
	hub/query:FuzzParseTime \
	hub/layout:FuzzParseTally \
	sidecar/decode:FuzzDecode \
	sidecar/sink:FuzzOTLPValue sidecar/sink:FuzzOTLPRawValueReference \
	sidecar/receive/otlp:FuzzDecodeProtobuf sidecar/receive/otlp:FuzzDecodeJSON sidecar/receive/otlp:FuzzDecodeJSONProtojson sidecar/receive/ingest:FuzzDecodeRecords \
	webhook:FuzzAdmissionLoads \
	hub:FuzzParseNkeys \
	$(foreach t,FuzzCRI FuzzTimestamps FuzzDocker FuzzAuto FuzzJSON FuzzLogfmt FuzzNginx FuzzCSV FuzzMultiline FuzzStreams FuzzRegex FuzzScanObject FuzzRFC3339 FuzzChain FuzzSearch FuzzEncodingGBK FuzzEncodingUTF16 FuzzInvalidUTF8,sidecar/parse:$(t))

.PHONY: all build test bench fuzz lint demo clean manifests chart images e2e

all: build

## build: the full loglet and the slim sidecar build (-tags slim)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/loglet ./cmd/loglet
	CGO_ENABLED=0 $(GO) build -trimpath -tags slim -ldflags '$(LDFLAGS)' -o $(BIN)/loglet-slim ./cmd/loglet
	@ls -l $(BIN)/loglet $(BIN)/loglet-slim

## test: every test (kube-apiserver and etcd for the webhook tests come from
## hack/control-plane.sh, built once into a cache); in-process packages also
## under the race detector. cmd/loglet's process tests (kill -9 during
## rotation and copytruncate, a headless Chromium) run after the other
## packages, not beside them: they start many processes each.
## hack/runtimes.sh installs the runtimes (JDK, Python, Ruby, Node.js) whose
## stack traces the multiline presets are tested on; hack/promtool.sh installs
## promtool (Debian's prometheus), which checks and unit-tests the chart's alerts.
test:
	$(GO) vet ./...
	hack/runtimes.sh
	PROMTOOL=$$(hack/promtool.sh) && KUBEBUILDER_ASSETS=$$(hack/control-plane.sh) TRACE_RUNTIMES=required PROMTOOL=$$PROMTOOL PROMTOOL_REQUIRED=1 \
		$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/cmd/loglet$$')
	CHROMIUM=$$(hack/chromium.sh) && CHROMIUM=$$CHROMIUM KUBEBUILDER_ASSETS=$$(hack/control-plane.sh) $(GO) test -count=1 -timeout 15m ./cmd/loglet
	KUBEBUILDER_ASSETS=$$(hack/control-plane.sh) $(GO) test -race -count=1 -timeout 15m ./sidecar/... ./hub/...

# hack/image's test runs the arm64 image's binary under qemu-user: hack/qemu.sh installs
# Debian's qemu-user-static and prints qemu-aarch64-static's path; QEMU_REQUIRED makes the
# test fail, not skip, when that went wrong.
test: export QEMU_AARCH64 = $(shell hack/qemu.sh)
test: export QEMU_REQUIRED = 1

## bench: micro benchmarks, the 1 GiB agent benchmark, the hub (ingest, and
## loglet logs on 10 M records), wake-ups (context switches, CPU, reads a
## second at 1 MB/s, 100 KB/s and idle), the
## sidecar (stdout: api through kube-apiserver), loglet exec memory, and the
## sidecar's cost at 1 MB/s, 100 KB/s and idle to nats:// and http:// (RSS,
## CPU, context switches against issue 24's targets; FLUENT_BIT=path/to/fluent-bit
## adds Fluent Bit on the same load, bench/peers/README.md builds it) (figures printed)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./sidecar/... ./hub/... ./webhook/
	KUBEBUILDER_ASSETS=$$(hack/control-plane.sh) BENCH_DIR=$(BENCH_DIR) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m -v ./bench/

## fuzz: every fuzz target for FUZZTIME each (crashers land in testdata/fuzz as regression cases)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name"; $(GO) test ./$$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME); done

## lint: gofmt, go vet, staticcheck (installed through the module proxy)
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags slim ./...
	$(GO) run $(STATICCHECK) ./...
	cd e2e && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

## demo: the agent on a generated sample workload, printing delivered records
demo: build
	$(GO) run ./demo --loglet $(BIN)/loglet

## images: one OCI image index per image holding linux/amd64 and linux/arm64 (hack/image,
## go-containerregistry, no container engine), from binaries cross-compiled as make build
## compiles them: $(BIN)/loglet.tar (full build, the webhook) and $(BIN)/loglet-slim.tar
## (sidecar, DaemonSet), OCI image layout archives, and beside each an SPDX 2.3 SBOM per
## platform ($(BIN)/loglet-slim.linux-arm64.spdx.json); REGISTRY=ghcr.io/you also pushes
## the indexes (credentials from ~/.docker/config.json)
IMAGE_PLATFORMS := linux/amd64 linux/arm64
images:
	@set -e; for p in $(IMAGE_PLATFORMS); do \
		echo "building loglet and loglet-slim for $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$${p/\//-}/loglet ./cmd/loglet; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -tags slim -ldflags '$(LDFLAGS)' -o $(BIN)/$${p/\//-}/loglet-slim ./cmd/loglet; \
	done
	$(GO) run ./hack/image --name loglet $(foreach p,$(IMAGE_PLATFORMS),--binary $(BIN)/$(subst /,-,$(p))/loglet) --tag $(IMAGE_TAG) \
		--version $(VERSION) --revision "$(REVISION)" --created "$(CREATED)" --out $(BIN)/loglet.tar $(if $(REGISTRY),--registry $(REGISTRY))
	$(GO) run ./hack/image --name loglet-slim $(foreach p,$(IMAGE_PLATFORMS),--binary $(BIN)/$(subst /,-,$(p))/loglet-slim) --tag $(IMAGE_TAG) \
		--version $(VERSION) --revision "$(REVISION)" --created "$(CREATED)" --out $(BIN)/loglet-slim.tar $(if $(REGISTRY),--registry $(REGISTRY))

## e2e: end-to-end tests on a real control plane (etcd, kube-apiserver,
## kube-controller-manager, kube-scheduler as processes; e2e/README.md)
e2e:
	cd e2e && KUBEBUILDER_ASSETS=$$(../hack/control-plane.sh full) $(GO) test -count=1 -timeout 30m

## interop: the push inputs against real clients that take minutes to build:
## rsyslog forwarding over TCP and UDP, Filebeat's logstash output through a
## kill -9 of the agent, the OpenTelemetry Collector's otlp_http exporter
## (interop/, -tags interop; make test does not run it). hack/rsyslog.sh
## installs rsyslog; hack/filebeat.sh and hack/otelcol.sh build the others
## once into ~/.cache/loglet (README.md says how long, cold and warm)
.PHONY: interop
interop:
	RSYSLOGD=$$(hack/rsyslog.sh) && FILEBEAT=$$(hack/filebeat.sh) && OTELCOL=$$(hack/otelcol.sh) && \
		RSYSLOGD=$$RSYSLOGD FILEBEAT=$$FILEBEAT OTELCOL=$$OTELCOL $(GO) test -tags interop -count=1 -timeout 20m -v ./interop/

## manifests: the LogConfig CRDs (charts/loglet/crds) and deep copies generated from api/v1alpha1 (and
## sidecar/podapi) by controller-gen, and manifests/*.yaml rendered from charts/loglet (a test fails when they are stale)
CONTROLLER_GEN = sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
manifests:
	$(GO) run $(CONTROLLER_GEN) object paths=./api/... crd:crdVersions=v1 output:crd:dir=./charts/loglet/crds
	$(GO) run $(CONTROLLER_GEN) object paths=./sidecar/podapi/...
	$(GO) run ./hack/chart manifests

## chart: lint the chart (helm lint, through Helm's Go module) and package it into $(BIN)/
chart:
	$(GO) run ./hack/chart lint
	$(GO) run ./hack/chart lint nodeMode.enabled=true webhook.certMode=files
	$(GO) run ./hack/chart lint nodeMode.enabled=true 'nodeMode.hostFiles[0]=/var/log/*.log' nodeMode.push.syslog.enabled=true \
		nodeMode.push.otlp.enabled=true nodeMode.push.otlp.tokenSecret.name=otlp-token nodeMode.push.service.enabled=true
	$(GO) run ./hack/chart lint webhook.networkPolicy.enabled=true 'webhook.networkPolicy.from[0].ipBlock.cidr=10.0.0.0/24'
	$(GO) run ./hack/chart lint nodeMode.enabled=true monitoring.webhook.enabled=true monitoring.node.enabled=true \
		monitoring.sidecars.enabled=true monitoring.prometheusRule.enabled=true monitoring.grafanaDashboard.enabled=true \
		monitoring.labels.release=kube-prometheus-stack
	$(GO) run ./hack/chart package $(BIN)

clean:
	rm -rf $(BIN)
