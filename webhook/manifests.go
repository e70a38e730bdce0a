package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// Source is one input of `loglet inject`: a file's name (or "-") and its
// bytes.
type Source struct {
	Name string
	Data []byte
}

// Preview is `loglet inject`: it writes manifests back with every pod
// (and pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet,
// ReplicationController, Job or CronJob, also inside a List) mutated as
// the webhook would, the preview a user runs before trusting the webhook.
// LogConfigs and ClusterLogConfigs in any of the sources apply to the
// pods of all of them (offline.go); namespace labels are known for the
// Namespaces the sources hold.
//
// A document it does not change is written back byte for byte, comments,
// unknown fields and all. In a document it changes, it applies to the
// YAML as written the patch from the object as kubectl reads it to the
// object the webhook makes of it (createPatch): comments, key order, quoting and fields it does not know
// (a typo kubectl apply --validate=strict should still catch) stay; only
// the indentation is made uniform (two spaces, lists not indented).
type Preview struct {
	Config Config
	// Warn receives the webhook's warnings, one line each.
	Warn io.Writer
	// Diff writes a unified diff of each object injection changes
	// instead of the manifests.
	Diff bool

	src string          // the source being read, for warnings
	lc  *offlineConfigs // the LogConfigs, ClusterLogConfigs and Namespaces of all sources
}

// Write previews srcs in order onto w. Between sources it puts the
// "---" line a multi-document stream needs (unless the next one starts
// with its own).
func (p Preview) Write(w io.Writer, srcs ...Source) error {
	lc, err := collectConfigs(srcs)
	if err != nil {
		return err
	}
	p.lc = lc
	out := &lastByte{w: w}
	for i, src := range srcs {
		if i > 0 && !p.Diff && out.n > 0 {
			if out.last != '\n' {
				if _, err := io.WriteString(out, "\n"); err != nil {
					return err
				}
			}
			if !startsWithSeparator(src.Data) {
				if _, err := io.WriteString(out, "---\n"); err != nil {
					return err
				}
			}
		}
		if err := p.source(out, src); err != nil {
			return err
		}
	}
	return nil
}

// lastByte remembers what was written last, to join sources.
type lastByte struct {
	w    io.Writer
	n    int64
	last byte
}

func (l *lastByte) Write(b []byte) (int, error) {
	n, err := l.w.Write(b)
	if n > 0 {
		l.n += int64(n)
		l.last = b[n-1]
	}
	return n, err
}

func startsWithSeparator(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return isSeparator(line)
}

// isSeparator is kubectl's rule: a line of "---" and nothing but
// trailing white space ends a document.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	return ok && len(bytes.TrimSpace(rest)) == 0
}

// chunk is one document of a source as written: the separator line
// before it (with its line break; empty for the first) and its text.
type chunk struct {
	sep, body []byte
}

// split cuts data into documents at separator lines, keeping every byte.
func split(data []byte) []chunk {
	var chunks []chunk
	cur := chunk{}
	start := 0
	for start < len(data) {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start + 1
		}
		line := data[start:end]
		if isSeparator(bytes.TrimRight(line, "\r\n")) {
			if cur.sep != nil || len(cur.body) > 0 {
				chunks = append(chunks, cur)
			}
			cur = chunk{sep: line}
		} else {
			cur.body = data[start-len(cur.body) : end : end]
		}
		start = end
	}
	if cur.sep != nil || len(cur.body) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

func (p Preview) source(w io.Writer, src Source) error {
	p.src = src.Name
	if p.src == "-" {
		p.src = "standard input"
	}
	for i, c := range split(src.Data) {
		where := fmt.Sprintf("%s: document %d", p.src, i+1)
		out, diffs, err := p.document(c.body)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if p.Diff {
			for _, d := range diffs {
				if _, err := io.WriteString(w, d); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := w.Write(c.sep); err != nil {
			return err
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

// document previews one document: what to write for it (body itself
// when nothing changed) and, per changed object, a unified diff.
func (p Preview) document(body []byte) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("not YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return body, nil, nil // only comments or blank lines
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("not a Kubernetes object: want a mapping with apiVersion and kind, got a %s", kindName(root))
	}
	var diffs []string
	changed, err := p.object(root, &diffs)
	if err != nil || !changed {
		return body, diffs, err
	}
	out, err := encode(&doc, isJSON(body))
	return out, diffs, err
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar " + strconv.Quote(n.Value)
	}
	return "node"
}

func isJSON(body []byte) bool {
	s := bytes.TrimSpace(body)
	return len(s) > 0 && s[0] == '{'
}

// templatePaths is where each kind keeps the pod template the webhook
// sees its pods made from ("" for a Pod: the object itself).
var templatePaths = map[string][]string{
	"Pod":                   nil,
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// object injects the pods of the object obj (a List's items, each in
// turn) and reports whether it changed anything; each changed object
// adds its diff to diffs.
func (p Preview) object(obj *yaml.Node, diffs *[]string) (bool, error) {
	kind := scalar(get(obj, "kind"))
	name := scalar(get(get(obj, "metadata"), "name"))
	ns := scalar(get(get(obj, "metadata"), "namespace"))
	what := strings.TrimSpace(kind + " " + name)
	if items := get(obj, "items"); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		changed := false
		for i, item := range items.Content {
			if item.Kind != yaml.MappingNode {
				return false, fmt.Errorf("%s: items[%d] is not an object", what, i)
			}
			c, err := p.object(item, diffs)
			if err != nil {
				return false, fmt.Errorf("%s: items[%d]: %w", what, i, err)
			}
			changed = changed || c
		}
		return changed, nil
	}
	path, ok := templatePaths[kind]
	if !ok {
		return false, nil
	}
	tmpl := obj
	for _, k := range path {
		if tmpl = get(tmpl, k); tmpl == nil {
			return false, nil
		}
	}
	if tmpl.Kind != yaml.MappingNode {
		return false, fmt.Errorf("%s: %s is not an object", what, strings.Join(path, "."))
	}
	if ns == "" {
		ns = "default"
	}
	var before *yaml.Node
	if p.Diff {
		before = clone(obj)
	}
	changed, err := p.template(tmpl, kind == "Pod", what, ns)
	if err != nil || !changed {
		return false, err
	}
	if p.Diff {
		d, err := unifiedDiff(before, obj, what, ns)
		if err != nil {
			return false, err
		}
		*diffs = append(*diffs, d)
	}
	return true, nil
}

// template injects the pod template (or pod) in node as the webhook
// would: it decodes it as kubectl would, lets Inject mutate it, and
// applies the JSON patch between the two to node.
func (p Preview) template(node *yaml.Node, isPod bool, what, ns string) (bool, error) {
	text, err := yaml.Marshal(node)
	if err != nil {
		return false, err
	}
	var pod corev1.Pod
	if isPod {
		err = sigsyaml.Unmarshal(text, &pod)
	} else {
		var t corev1.PodTemplateSpec
		err = sigsyaml.Unmarshal(text, &t)
		pod.ObjectMeta, pod.Spec = t.ObjectMeta, t.Spec
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	configs, nsLabels, warnings, err := p.lc.forNamespace(ns)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	out, d, more, err := InjectWith(&pod, ns, nsLabels, configs, p.Config)
	warnings = append(warnings, more...)
	for _, w := range warnings {
		fmt.Fprintf(p.Warn, "warning: %s: %s: %s\n", p.src, what, w)
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if !d.Inject {
		return false, nil
	}
	was, err := asWritten(&pod, isPod)
	if err != nil {
		return false, err
	}
	now, err := asWritten(out, isPod)
	if err != nil {
		return false, err
	}
	ops, err := createPatch(was, now)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	added := map[*yaml.Node]bool{}
	for _, op := range ops {
		if err := apply(node, op, added); err != nil {
			return false, fmt.Errorf("%s: %s %s: %w", what, op.Operation, op.Path, err)
		}
	}
	return len(ops) > 0, nil
}

// asWritten is the JSON of pod as the object the document holds: the pod,
// or the template of its metadata and spec.
func asWritten(pod *corev1.Pod, isPod bool) ([]byte, error) {
	if isPod {
		return json.Marshal(pod)
	}
	return json.Marshal(corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec})
}

// get is the value of key in the mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return deref(m.Content[i+1])
		}
	}
	return nil
}

// deref follows an alias to its anchor.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// apply carries out one operation of a JSON patch (RFC 6902) on the
// YAML tree root: add, replace and remove, which is what createPatch
// makes. An add below a key the document leaves out creates it, as the
// typed object the patch was made from holds it (resources: {}). The
// keys it adds to a mapping (remembered in added) go after those written,
// in alphabetical order, as the JSON of the typed object has them.
func apply(root *yaml.Node, op patchOp, added map[*yaml.Node]bool) error {
	tokens := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
	for i, t := range tokens {
		tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	parent := root
	for _, t := range tokens[:len(tokens)-1] {
		child, err := step(parent, t, op.Operation == "add", added)
		if err != nil {
			return err
		}
		parent = child
	}
	last := tokens[len(tokens)-1]
	var value *yaml.Node
	if op.Operation != "remove" {
		value = &yaml.Node{}
		if err := value.Encode(op.Value); err != nil {
			return err
		}
	}
	switch parent.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value != last {
				continue
			}
			if op.Operation == "remove" {
				parent.Content = append(parent.Content[:i], parent.Content[i+2:]...)
				return nil
			}
			// Keep a comment on the line of the value replaced.
			value.LineComment = parent.Content[i+1].LineComment
			parent.Content[i+1] = value
			return nil
		}
		if op.Operation == "remove" {
			return nil // not written: nothing to remove
		}
		addKey(parent, last, value, added)
		return nil
	case yaml.SequenceNode:
		n := len(parent.Content)
		i, err := strconv.Atoi(last)
		if last == "-" {
			i, err = n, nil
		}
		if err != nil || i < 0 || i > n || (i == n && op.Operation != "add") {
			return fmt.Errorf("no item %s in a list of %d", last, n)
		}
		switch op.Operation {
		case "add":
			parent.Content = append(parent.Content[:i], append([]*yaml.Node{value}, parent.Content[i:]...)...)
		case "replace":
			parent.Content[i] = value
		case "remove":
			parent.Content = append(parent.Content[:i], parent.Content[i+1:]...)
		}
		return nil
	}
	return fmt.Errorf("not a mapping or list")
}

// addKey adds key: value to the mapping m, after the keys written and
// in order among those added.
func addKey(m *yaml.Node, key string, value *yaml.Node, added map[*yaml.Node]bool) {
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	added[k] = true
	i := len(m.Content)
	for i >= 2 && added[m.Content[i-2]] && m.Content[i-2].Value > key {
		i -= 2
	}
	m.Content = slices.Insert(m.Content, i, k, value)
}

// step goes from n to its child named t, creating a mapping for a missing
// key when create is set.
func step(n *yaml.Node, t string, create bool, added map[*yaml.Node]bool) (*yaml.Node, error) {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		if c := get(n, t); c != nil {
			if isNull(c) && create {
				c.Kind, c.Tag, c.Value = yaml.MappingNode, "!!map", ""
			}
			return c, nil
		}
		if !create {
			return nil, fmt.Errorf("no key %s", t)
		}
		c := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		addKey(n, t, c, added)
		return c, nil
	case yaml.SequenceNode:
		i, err := strconv.Atoi(t)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil, fmt.Errorf("no item %s in a list of %d", t, len(n.Content))
		}
		return deref(n.Content[i]), nil
	}
	return nil, fmt.Errorf("%s: not a mapping or list", t)
}

func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = clone(k)
	}
	return &c
}

// encode writes a changed document: YAML with two-space indentation and
// lists not indented (as kubectl prints), or indented JSON for a document
// written in JSON.
func encode(doc *yaml.Node, asJSON bool) ([]byte, error) {
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	e.CompactSeqIndent()
	if err := e.Encode(doc); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	if !asJSON {
		return b.Bytes(), nil
	}
	j, err := sigsyaml.YAMLToJSON(b.Bytes())
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, j, "", "    "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// unifiedDiff is the unified diff of one object, before and after.
func unifiedDiff(before, after *yaml.Node, what, ns string) (string, error) {
	a, err := encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{before}}, false)
	if err != nil {
		return "", err
	}
	b, err := encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{after}}, false)
	if err != nil {
		return "", err
	}
	name := ns + "/" + strings.ReplaceAll(what, " ", "/")
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(a)), B: difflib.SplitLines(string(b)),
		FromFile: name, ToFile: name + " (injected)", Context: 3,
	})
}
