package source

import (
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/record"
)

// Choice is how the agent reads one source, decided when it is found.
type Choice struct {
	// Skip leaves the source unread (in node mode: a pod that is excluded,
	// or has a sidecar of its own).
	Skip bool
	// Later asks to be asked again at the next scan (in node mode: the
	// pod's metadata is not there yet).
	Later bool
	// Parse turns its lines into records.
	Parse *parse.Spec
	// Process runs the input's processors on its records (nil: none).
	Process *process.Chain
	// Resource are the attributes its records carry.
	Resource []record.KeyValue
	// Route sends its records to a Kafka topic or JetStream subject of
	// their own; empty: the agent's route.
	Route string
	// Input names the configuration's input the source belongs to; its
	// records carry it as loglet.input.
	Input string
	// Inbox says the source is a segment of a push input's inbox: it is
	// read from its start whatever --start-at says (it holds what senders
	// were told is delivered), and its records do not carry its path.
	Inbox bool
	// Remove are the base-name globs of the source's rotated files that
	// the agent deletes once the hub acknowledged them to their end
	// (remove-shipped: rotated); nil: it deletes nothing.
	Remove []string
}
