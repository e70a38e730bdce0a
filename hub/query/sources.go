package query

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/layout"
)

// Source is a namespace, pod and container the hub holds records of, as
// their subjects name them ("_" stands for none, as in the layout).
type Source struct {
	Route     string `json:"route"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
	// Messages is how many messages (packages) the hub holds of it.
	Messages uint64 `json:"messages"`
}

// Sourcer lists what a hub holds records of, cheaply: from the stream's
// subjects, without reading a record. NATS hubs are Sourcers.
type Sourcer interface {
	Sources(ctx context.Context) ([]Source, error)
}

// Sources lists the subjects of the layout in every stream of the family,
// folded by route, namespace, pod and container (sources of one container
// are counted together). Subjects of the layout before namespaces were in
// them have no namespace to give, and are left out.
func (r *natsHub) Sources(ctx context.Context) ([]Source, error) {
	type key struct{ route, ns, pod, container string }
	counts := map[key]uint64{}
	for _, st := range r.streams {
		prefix := layout.Prefix(st.name)
		info, err := st.stream.Info(ctx, jetstream.WithSubjectFilter(prefix+".*.*.*.*.*"))
		if err != nil {
			return nil, fmt.Errorf("list the subjects of %s: %w", st.name, err)
		}
		for subj, n := range info.State.Subjects {
			tok := strings.Split(subj, ".")
			if len(tok) != 6 {
				continue
			}
			counts[key{tok[1], tok[2], tok[3], tok[4]}] += n
		}
	}
	out := make([]Source, 0, len(counts))
	for k, n := range counts {
		out = append(out, Source{Route: k.route, Namespace: k.ns, Pod: k.pod, Container: k.container, Messages: n})
	}
	slices.SortFunc(out, func(a, b Source) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Container, b.Container), cmp.Compare(a.Route, b.Route))
	})
	return out, nil
}
