package config

import (
	"slices"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/sink"
)

// AgentFlags declares the agent's flags with their defaults and help.
func AgentFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "the configuration document: a YAML or JSON file whose keys are the flag names (batch-bytes: 1MiB) and inputs; LOGLET_CONFIG may hold the document itself as JSON")
	fs.String("mode", "local", "where the agent runs: local (files named by --path), sidecar (the pod the webhook injected it into) or node (every pod's container logs under --pods-dir, as a DaemonSet)")
	fs.String("route", "", "route of the records (Kafka topic, JetStream subject suffix): 1 to 64 letters, digits, - or _; empty: the sink's")
	fs.String("pods-dir", "/var/log/pods", "mode node: the kubelet's pod log folder (<namespace>_<pod>_<uid>/<container>/<restart>.log)")
	fs.Bool("pod-metadata", true, "mode node: read the node's pods from the API (labels, images, env, annotations); needs --node-name")
	fs.String("metadata-wait", "2s", "mode node: how long a new file waits for its pod to show up from the API before it is read with what its path tells")
	fs.StringSlice("include-namespace", nil, "mode node: read only pods of these namespaces")
	fs.StringSlice("exclude-namespace", nil, "mode node: leave out pods of these namespaces")
	fs.String("include-pods", "", "mode node: read only pods whose labels match this selector (app=web,tier!=cache)")
	fs.String("exclude-pods", "", "mode node: leave out pods whose labels match this selector")
	fs.StringSlice("include-annotation", nil, "mode node: read only pods with one of these annotations (KEY=VALUE, or KEY for any value)")
	fs.StringSlice("exclude-annotation", nil, "mode node: leave out pods with one of these annotations (KEY=VALUE or KEY); loglet.io/exclude=true always is")
	fs.StringSlice("include-env", nil, "mode node: read only containers with one of these environment variables (KEY=VALUE or KEY)")
	fs.StringSlice("exclude-env", nil, "mode node: leave out containers with one of these environment variables (KEY=VALUE or KEY)")
	fs.String("forget-after", "1h", "mode node: how long a deleted pod's metadata is kept for its logs, which the kubelet keeps for a while")
	fs.Bool("logconfigs", false, "mode node: apply the LogConfigs and ClusterLogConfigs (loglet.io/v1alpha1) that select the node's pods: their stdout inputs' format, multiline, route and processors on the pods' container logs (needs pod-metadata, and list and watch on logconfigs, clusterlogconfigs and namespaces)")
	fs.String("route-label", "", "mode node: route each pod's records by the value of this pod label (e.g. log_type); pods without it use --route")
	fs.String("stdout", "off", "sidecar: how the containers' stdout is captured: wrap (the copies loglet exec writes), api (pods/log from the Kubernetes API; auto is the same here), off")
	fs.String("api-server", "", "sidecar, stdout: api: Kubernetes API URL; empty: the pod's own (service account, in-cluster)")
	fs.String("api-token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", "sidecar: bearer token file for --api-server (re-read as it rotates)")
	fs.String("api-ca-file", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "sidecar: CA bundle for --api-server; empty: the system's")
	fs.String("pod-volume", "/var/loglet", "sidecar: where the shared log volume is mounted")
	fs.String("container-images", "", "sidecar: JSON map of container name to image (the webhook sets it)")
	fs.String("logconfig-file", "", "sidecar: the LogConfigs rendered for the pod's namespace (the ConfigMap the webhook mounts); the agent reloads their inputs when the kubelet updates it; empty: none")
	fs.String("container-mounts", "", "sidecar: JSON map of container to its folders shared with the sidecar, each to its folder on the volume ({\"app\":{\"/var/log/app\":\"c/app/0\"}}; the webhook sets it)")
	fs.Bool("exit-when-done", false, "sidecar as a plain container: drain and exit 0 once every container has ended (seen in loglet exec's markers, or the pod status with stdout: api), so Jobs complete")
	fs.StringSlice("path", nil, "glob of files to read, absolute (** matches any folders); repeat the flag or separate with commas")
	fs.StringSlice("exclude", nil, "glob of files to leave out; without a slash it matches the file name (*.gz)")
	fs.Bool("follow-symlinks", false, "modes local and node: open matched files whose symlinks lead anywhere; default: only beneath the globs' folders and --link-roots (mode sidecar: only beneath the folder its own glob names, always)")
	fs.StringSlice("link-roots", nil, "modes local and node: folders a matched file's symlinks may lead into besides the globs' folders (mode node adds /var/lib/docker/containers, where the kubelet's links of Docker's json-file logs lead)")
	fs.String("remove-shipped", "never", "mode sidecar: delete the input's rotated files once the hub acknowledged every byte of them, so an emptyDir with a sizeLimit does not fill: never, or rotated (files renamed away from the name the glob found whose names match --rotated-pattern, after they were read to their end; never the file the app writes, never through a symlink, never outside the pod's log volume)")
	// A number after a dot or a dash, as logrotate (app.log.1,
	// app.log.2.gz; dateext: app.log-20261201), log4j and Python's
	// handlers (app.log.2026-12-01) name rotated files. It matches live
	// names like app-2026-12-01.log too: the file an app writes is never
	// deleted anyway, only one renamed away from where its glob found it.
	fs.StringSlice("rotated-pattern", []string{"*.[0-9]*", "*-[0-9]*"}, "globs on the base names of rotated files, for --remove-shipped rotated (the default covers app.log.1, app.log.2.gz, app.log.2026-12-01.gz, app.log-20261201)")
	fs.String("volume-size-limit", "0", "sidecar: the pod log volume's sizeLimit (the webhook sets it from the emptyDir it injects): loglet_volume_limit_bytes, and a warning at 80 % of it; 0: not known")
	fs.String("state-dir", "/var/lib/loglet", "writable folder for checkpoints and rejected packages")
	fs.String("sink", "stdout://", "where records go: "+sink.Schemes)
	fs.String("batch-bytes", "512KiB", "cut a package at this many bytes of records (512KiB, 1MiB, …)")
	fs.String("batch-wait", "1s", "cut a package this long after its first record")
	fs.String("max-line-bytes", "256KiB", "split longer lines into parts marked loglet.split.part/last (never dropped)")
	fs.String("start-at", "beginning", "where to start files found at the first start that have no checkpoint: beginning or end")
	fs.String("max-buffer-bytes", "64MiB", "bytes of packages held while the hub has not acknowledged them; reading pauses beyond")
	fs.String("memory-limit", "auto", "the container's memory limit (67108864, 64Mi), from which max-buffer-bytes (a quarter at most, unless set) and GOMEMLIMIT (unless set) follow; auto: the cgroup's; none: no limit")
	fs.String("scan-interval", "1s", "how often the globs are matched again and idle files checked (with file events: every 10th, as events find new and growing files)")
	fs.String("max-open-files", "1024", "most files read at once; further files wait, and idle files close early for them")
	fs.String("close-inactive", "5m", "close a file that has not grown for this long (it is opened again, by its identity, when it changes); 0: never")
	fs.String("checkpoint-interval", "auto", "least time between two rounds of checkpoint writes; a crash re-sends at most what was acknowledged in it (auto: 100ms, 5s in mode node with its hundreds of sources)")
	fs.Bool("release-startup-pages", true, "once the files are open, have the kernel reclaim the pages of loglet's own executable (madvise MADV_PAGEOUT): those only its start used, ~9 MiB of resident memory, are not read back in; false: leave them")
	fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz here (e.g. :9090); empty: off")
	fs.String("drain-timeout", "25s", "on SIGTERM, time to read to the end, deliver and checkpoint before exiting")
	fs.Bool("once", false, "read every file to its current end, deliver, checkpoint and exit 0 (backfills, benchmarks)")
	fs.String("format", "raw", "how a line becomes a record: raw, json, logfmt, nginx, csv, syslog, regex:<RE2 with (?P<name>…) groups>; cri, docker or auto for container logs")
	fs.String("container-format", "none", "container log wrapping to decode before --format: none, cri, docker, auto (per file, from its first line)")
	fs.String("multiline-start", "", "RE2 matching the first line of a record; following lines that do not match join it (stack traces); a line before any start line is a record of its own")
	fs.String("multiline-end", "", "RE2 matching the last line of a record")
	fs.String("multiline-continue", "", "RE2 matching the lines that continue a record (with --multiline-start: records begin only with a start line)")
	fs.String("multiline-preset", "", "join the stack traces a runtime prints, with no pattern: java, python, go, ruby, node, dotnet, or auto (any of them in one stream)")
	fs.String("multiline-max-lines", strconv.Itoa(parse.DefaultMultilineMaxLines), "finish a multiline record in parts (marked loglet.split.part/last) beyond this many lines")
	fs.String("multiline-max-bytes", "0", "finish a multiline record in parts beyond this size (0: --max-line-bytes)")
	fs.String("multiline-timeout", "1s", "finish a multiline record after this long without a new line")
	fs.StringSlice("csv-fields", nil, "column names for --format csv")
	fs.String("time-key", "", "field whose value is the record's event time (default: the container line's time, else when it was read)")
	fs.String("time-format", "rfc3339", "how --time-key is written: rfc3339, unix, unix_ms, unix_us, unix_ns or a Go layout (02/Jan/2006:15:04:05 -0700)")
	fs.String("encoding", "utf-8", "encoding of the text the application writes: utf-8, utf-16le, utf-16be, utf-16 (the BOM decides), or a WHATWG/IANA name (gbk, gb18030, big5, shift_jis, euc-kr, iso-8859-2, windows-1252, koi8-r…); a BOM at a file's start wins; container lines are decoded inside their CRI/Docker wrapping")
	fs.String("invalid-utf8", "keep", "what a record whose text is not valid UTF-8 (or not valid in --encoding) carries, always marked in loglet.parse_error and counted: keep (U+FFFD in the body and the original bytes, \\xHH-escaped, in loglet.raw_body) or replace (U+FFFD only)")
	fs.String("redact-salt", "", "key of redact's hash: sha256 (the same secret gets the same hash only under the same salt); give it from a Secret, as LOGLET_REDACT_SALT")
	fs.String("pod-namespace", "", "k8s.namespace.name of every record (in a pod: from the downward API)")
	fs.String("pod-name", "", "k8s.pod.name of every record")
	fs.String("pod-uid", "", "k8s.pod.uid of every record")
	fs.String("container-name", "", "k8s.container.name of every record")
	fs.String("node-name", "", "k8s.node.name of every record")
	fs.String("log-format", "auto", "log format: json, text, or auto (text on a terminal, json otherwise)")
	fs.String("log-level", "info", "log level: debug, info, warn, error")
}

// inputKeys are the settings that describe one input: as flags they
// describe the input named default; a document with inputs sets them per
// input (path is files there).
var inputKeys = []string{"path", "exclude", "format", "container-format", "multiline-start", "multiline-end",
	"multiline-continue", "multiline-preset", "multiline-max-lines", "multiline-max-bytes", "multiline-timeout",
	"csv-fields", "time-key", "time-format", "encoding", "invalid-utf8", "route", "remove-shipped", "rotated-pattern"}

// InputSettings are the settings of one input (as flags): a program that
// builds inputs (the webhook) sets them per input, never agent-wide.
func InputSettings() []string { return slices.Clone(inputKeys) }

// otherVariables are LOGLET_* variables that other loglet commands read
// (loglet exec, in the app's containers; the build's scripts): the
// agent does not take them for typos.
var otherVariables = []string{"LOGLET_STDOUT_DIR", "LOGLET_ASSETS"}
