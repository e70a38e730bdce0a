package webhook

import (
	"encoding/json"
	"reflect"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestPatchApplies: the patch from a to b, applied to a's YAML, gives b;
// and it touches no more items than the change needs.
func TestPatchApplies(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		ops        int
	}{
		{"prepend", `{"l": [{"n": "m"}]}`, `{"l": [{"n": "s"}, {"n": "m"}]}`, 1},
		{"append", `{"l": [1, 2]}`, `{"l": [1, 2, 3, 4]}`, 2},
		{"insert in the middle", `{"l": [1, 2]}`, `{"l": [1, 9, 2]}`, 1},
		{"remove", `{"l": [1, 2, 3, 4]}`, `{"l": [1, 4]}`, 2},
		{"change an item", `{"l": [{"c": ["/a"]}]}`, `{"l": [{"c": ["x", "--", "/a"], "v": 1}]}`, 3},
		{"replace a list", `{"l": [1, 2]}`, `{"l": [3, 4, 5]}`, 3},
		{"keys with / and ~", `{"a": {"x/y": 1}}`, `{"a": {"x/y": 2, "p~q": 3}}`, 2},
		{"add under null", `{"m": null}`, `{"m": {"a": 1}}`, 1},
		{"remove a key", `{"a": 1, "b": 2}`, `{"a": 1}`, 1},
		{"no change", `{"a": [1, {"b": 2}]}`, `{"a": [1, {"b": 2}]}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := createPatch([]byte(tc.a), []byte(tc.b))
			if err != nil {
				t.Fatal(err)
			}
			if len(ops) != tc.ops {
				t.Errorf("%d operations %+v, want %d", len(ops), ops, tc.ops)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.a), &doc); err != nil {
				t.Fatal(err)
			}
			added := map[*yaml.Node]bool{}
			for _, op := range ops {
				if err := apply(doc.Content[0], op, added); err != nil {
					t.Fatalf("%+v: %v", op, err)
				}
			}
			var got, want any
			if err := doc.Content[0].Decode(&got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.b), &want); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if !reflect.DeepEqual(gotJSON, wantJSON) {
				t.Errorf("applied: %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}
