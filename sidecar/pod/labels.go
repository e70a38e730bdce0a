package pod

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/loglet/loglet/sidecar/record"
)

// LabelsFile is where the webhook's downward-API volume puts the pod's
// labels, below the volume's root.
const LabelsFile = "podinfo/labels"

// ParseLabels reads the kubelet's downward-API format: one `key="value"`
// line per label, the value quoted as Go quotes strings.
func ParseLabels(b []byte) (map[string]string, error) {
	out := map[string]string{}
	for n, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || len(k) == 0 {
			return nil, fmt.Errorf("line %d: want key=\"value\", got %q", n+1, line)
		}
		s, err := strconv.Unquote(string(v))
		if err != nil {
			return nil, fmt.Errorf("line %d: value %s is not a quoted string: %w", n+1, v, err)
		}
		out[string(k)] = s
	}
	return out, nil
}

// LabelAttributes reads the pod's labels from the volume as resource
// attributes k8s.pod.label.<key>, sorted; none when the file is absent
// (a volume laid out without the downward API).
func (l *Layout) LabelAttributes() ([]record.KeyValue, error) {
	path := filepath.Join(l.Root, LabelsFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	labels, err := ParseLabels(b)
	if err != nil {
		return nil, fmt.Errorf("pod labels %s: %w", path, err)
	}
	var out []record.KeyValue
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		out = append(out, record.KeyValue{Key: "k8s.pod.label." + k, Value: labels[k]})
	}
	return out, nil
}
