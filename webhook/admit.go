package webhook

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/sidecar/config"
)

// StartError denies a pod whose sidecar would not start: the agent's own
// loader refused the configuration the pod's annotations make. Message
// names the annotation at fault, where one could be named, and the fix.
type StartError struct {
	Annotation string // "" when no one annotation is at fault
	Message    string
	Err        error // what the loader said
}

func (e *StartError) Error() string { return e.Message }

func (e *StartError) Unwrap() error { return e.Err }

// placeholderSink stands for the URL of a LogConfig's sink Secret.
const placeholderSink = "stdout://"

// placeholderUID stands for the pod's uid, which the API server gives it
// only after admission.
const placeholderUID = "00000000-0000-4000-8000-000000000000"

// checkSidecar loads the configuration the sidecar of pod (injected, to
// be admitted into namespace ns) will start with, with the function the
// agent loads it with, config.Load: a pod is admitted only if its sidecar
// can start. The downward-API values, which exist only once the pod runs,
// are stood in for by plausible ones.
func checkSidecar(pod *corev1.Pod, ns string, req Request, loaded *startCache) error {
	sc := sidecarContainer(pod)
	if sc == nil {
		return fmt.Errorf("the injected pod has no %s container", SidecarName)
	}
	args, environ, err := sidecarStart(pod, ns, sc)
	if err != nil {
		return err
	}
	key := startKey(args, environ)
	if loaded.has(key) {
		return nil
	}
	loadErr := loadAgent(args, environ)
	if loadErr == nil {
		loaded.add(key)
		return nil
	}
	return explain(pod, req, args, environ, loadErr)
}

// startCache remembers the sidecar starts (arguments and environment) the
// agent's loader accepted. The replicas of one template start their
// sidecars alike, and loading was a third of an admission's CPU
// (BenchmarkAdmission's profile): a rollout of a thousand pods loads the
// configuration once. A nil cache remembers nothing.
type startCache struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]bool
	// ring holds the keys in the order they came, to forget the oldest.
	ring [][sha256.Size]byte
	next int
}

// startCacheSize bounds the cache: a key is 32 bytes.
const startCacheSize = 4096

func newStartCache() *startCache {
	return &startCache{seen: make(map[[sha256.Size]byte]bool, startCacheSize)}
}

// startKey hashes a start; each string is length-prefixed, so no two
// starts share a key by how their strings split.
func startKey(args, environ []string) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, list := range [][]string{args, environ} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(list)))
		h.Write(n[:])
		for _, s := range list {
			binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
			h.Write(n[:])
			io.WriteString(h, s)
		}
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *startCache) has(k [sha256.Size]byte) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[k]
}

func (c *startCache) add(k [sha256.Size]byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[k] {
		return
	}
	if len(c.ring) < startCacheSize {
		c.ring = append(c.ring, k)
	} else {
		delete(c.seen, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % startCacheSize
	}
	c.seen[k] = true
}

func sidecarContainer(pod *corev1.Pod) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == SidecarName {
				return &list[i]
			}
		}
	}
	return nil
}

// sidecarStart is what the agent in sc starts with: its arguments after
// the subcommand, and its environment with each downward-API value stood
// in for.
func sidecarStart(pod *corev1.Pod, ns string, sc *corev1.Container) (args, environ []string, err error) {
	if len(sc.Command) > 0 || len(sc.Args) == 0 || sc.Args[0] != "agent" {
		return nil, nil, fmt.Errorf("the %s container runs %q %q, not loglet agent", SidecarName, sc.Command, sc.Args)
	}
	name := pod.Name
	if name == "" {
		// The API server names a pod of a controller after admission.
		name = pod.GenerateName + "a1b2c"
	}
	uid := string(pod.UID)
	if uid == "" {
		uid = placeholderUID
	}
	node := pod.Spec.NodeName
	if node == "" {
		node = "node-1"
	}
	fields := map[string]string{"metadata.name": name, "metadata.namespace": ns, "metadata.uid": uid, "spec.nodeName": node}
	for _, e := range sc.Env {
		v := e.Value
		switch from := e.ValueFrom; {
		case from == nil:
		case from.FieldRef != nil && fields[from.FieldRef.FieldPath] != "":
			v = fields[from.FieldRef.FieldPath]
		case from.SecretKeyRef != nil && e.Name == SinkEnv:
			// A LogConfig's sink, read by the kubelet from its Secret; the
			// loader takes any URL here, the sink is dialled at start.
			v = placeholderSink
		case from.ResourceFieldRef != nil && from.ResourceFieldRef.Resource == "limits.memory":
			limit, ok := sc.Resources.Limits[corev1.ResourceMemory]
			if !ok {
				return nil, nil, fmt.Errorf("%s: limits.memory of a sidecar without a memory limit", e.Name)
			}
			v = fmt.Sprint(limit.Value())
		default:
			return nil, nil, fmt.Errorf("%s: no stand-in for %+v", e.Name, from)
		}
		environ = append(environ, e.Name+"="+v)
	}
	return sc.Args[1:], environ, nil
}

// loadAgent is `loglet agent` reading its settings: its flags parsed
// from args, then config.Load.
func loadAgent(args, environ []string) error {
	fs := agentFlagSet()
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := config.Load(fs, environ)
	return err
}

// probe undoes what one annotation put into the sidecar's input.
type probe struct {
	annotation string
	undo       func(input map[string]any)
}

// probes undo each annotation's part of the sidecar's input.
func probes() []probe {
	return []probe{
		// csv-fields first: without them, format csv fails otherwise, and
		// any format but csv would pass with bad ones.
		{AnnotationCSVFields, func(in map[string]any) { delete(in, "csv-fields") }},
		{AnnotationFormat, func(in map[string]any) { in["format"] = "raw" }},
		{AnnotationMultiline, func(in map[string]any) { undoMultiline(in, "preset") }},
		{AnnotationMultilineStart, func(in map[string]any) { undoMultiline(in, "start") }},
		{AnnotationRoute, func(in map[string]any) { delete(in, "route") }},
		{AnnotationEncoding, func(in map[string]any) { delete(in, "encoding") }},
		{AnnotationPaths, func(in map[string]any) { in["files"] = []string{sidecarRoot + "/c/probe/0/*.log"} }},
	}
}

// undoMultiline takes key out of the input's multiline block.
func undoMultiline(in map[string]any, key string) {
	if m, ok := in["multiline"].(map[string]any); ok {
		delete(m, key)
	}
}

// explain names the annotation that made the loader refuse the sidecar's
// configuration: the first whose contribution, undone, changes what the
// loader says (the loader stops at its first error, so that is the
// annotation that error is about). It asks the loader rather than reading
// its message, which is written for people.
func explain(pod *corev1.Pod, req Request, args, environ []string, loadErr error) error {
	culprit := ""
	for _, p := range probes() {
		env, err := withInput(environ, p.undo)
		if err != nil {
			break
		}
		if err := loadAgent(args, env); err == nil || err.Error() != loadErr.Error() {
			culprit = p.annotation
			break
		}
	}
	problem := strings.TrimPrefix(loadErr.Error(), "inputs[0] ("+config.DefaultInput+").")
	value := pod.Annotations[culprit]
	switch {
	case culprit == AnnotationFormat && req.Format == "csv" && len(req.CSVFields) == 0:
		return &StartError{AnnotationFormat, fmt.Sprintf("annotation %s=csv needs %s, the column names (e.g. time,level,msg)", AnnotationFormat, AnnotationCSVFields), loadErr}
	case culprit == AnnotationFormat:
		return &InvalidError{AnnotationFormat, value, problem, "json"}
	case culprit == AnnotationCSVFields:
		return &InvalidError{AnnotationCSVFields, value, problem, "time,level,msg"}
	case culprit == AnnotationMultilineStart:
		return &InvalidError{AnnotationMultilineStart, value, problem, `^\d{4}-\d{2}-\d{2}`}
	case culprit == AnnotationMultiline:
		return &InvalidError{AnnotationMultiline, value, problem, "java"}
	case culprit == AnnotationRoute:
		return &InvalidError{AnnotationRoute, value, problem, "nginx_access_log"}
	case culprit == AnnotationEncoding:
		return &InvalidError{AnnotationEncoding, value, problem, "gbk"}
	case culprit == AnnotationPaths && len(req.Paths) == 0 && req.Stdout == "off":
		return nothingToRead(loadErr)
	case culprit == AnnotationPaths && len(req.Paths) == 0:
		return &StartError{AnnotationPaths, fmt.Sprintf("the loglet sidecar needs %s (e.g. app:/var/log/app/*.log): %v", AnnotationPaths, loadErr), loadErr}
	case culprit == AnnotationPaths:
		return &InvalidError{AnnotationPaths, value, problem, "app:/var/log/app/*.log"}
	}
	return &StartError{"", "the loglet sidecar could not start with this pod's settings: " + loadErr.Error(), loadErr}
}

// nothingToRead denies a pod whose annotations give its sidecar nothing
// to read. The agent would start (the LogConfigs mounted later may give
// it inputs), but a pod that asked for loglet by annotation and reads
// nothing is a mistake to say at once.
func nothingToRead(err error) error {
	return &StartError{AnnotationPaths, fmt.Sprintf("annotation %s=off without %s leaves the loglet sidecar nothing to read: give %s (e.g. app:/var/log/app/*.log), or capture the containers' output with %s: auto",
		AnnotationStdout, AnnotationPaths, AnnotationPaths, AnnotationStdout), err}
}

// withInput is environ with the sidecar's document changed by undo, which
// changes its input named default (the annotations').
func withInput(environ []string, undo func(map[string]any)) ([]string, error) {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if k != ConfigEnv {
			out = append(out, kv)
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(v), &doc); err != nil {
			return nil, err
		}
		inputs, _ := doc["inputs"].([]any)
		var in map[string]any
		for _, item := range inputs {
			if m, ok := item.(map[string]any); ok && m["name"] == config.DefaultInput {
				in = m
			}
		}
		if in == nil {
			return nil, errors.New("the sidecar's document has no input " + config.DefaultInput)
		}
		undo(in)
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, k+"="+string(b))
	}
	return out, nil
}
