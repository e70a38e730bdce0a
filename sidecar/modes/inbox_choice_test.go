package modes

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// TestInboxChoiceServiceName: the agent's service.name is derived from
// the pod (a default); an OTLP sender's own service.name wins over it,
// unless it is the SDKs' default (unknown_service…, which says none was
// set). The agent's identity keys still win over what a sender says.
func TestInboxChoiceServiceName(t *testing.T) {
	agent := []record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}, {Key: "k8s.deployment.name", Value: "web"}, {Key: "service.name", Value: "web"}}
	for _, tc := range []struct {
		name   string
		agent  []record.KeyValue
		sender []record.KeyValue
		want   []record.KeyValue
	}{
		{"sender's service.name wins", agent,
			[]record.KeyValue{{Key: "service.name", Value: "checkout"}, {Key: "k8s.pod.name", Value: "sdk-says"}, {Key: "service.version", Value: "1.2"}},
			[]record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}, {Key: "k8s.deployment.name", Value: "web"}, {Key: "service.name", Value: "checkout"}, {Key: "service.version", Value: "1.2"}}},
		{"SDK default gives way", agent,
			[]record.KeyValue{{Key: "service.name", Value: "unknown_service:java"}},
			agent},
		{"sender without one", agent,
			[]record.KeyValue{{Key: "telemetry.sdk.language", Value: "go"}},
			append(slices.Clone(agent), record.KeyValue{Key: "telemetry.sdk.language", Value: "go"})},
		{"agent without one", agent[:2],
			[]record.KeyValue{{Key: "service.name", Value: "unknown_service"}},
			append(slices.Clone(agent[:2]), record.KeyValue{Key: "service.name", Value: "unknown_service"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box, err := inbox.Open(filepath.Join(t.TempDir(), "otlp"), inbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := box.Append(tc.sender, []inbox.Record{{Body: []byte("hi")}}); err != nil {
				t.Fatal(err)
			}
			segs, _ := filepath.Glob(box.Glob())
			before := slices.Clone(tc.agent)
			ch := inboxChoice(source.Choice{Resource: tc.agent}, segs[0])
			if !ch.Inbox || !slices.Equal(ch.Resource, tc.want) {
				t.Errorf("resource %v, want %v", ch.Resource, tc.want)
			}
			if !slices.Equal(tc.agent, before) {
				t.Errorf("the agent's resource changed to %v", tc.agent)
			}
		})
	}
}
