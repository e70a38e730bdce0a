package webhook

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// patchOp is one operation of a JSON patch (RFC 6902): add, replace or
// remove.
type patchOp struct {
	Operation string
	Path      string
	Value     any
}

// createPatch is the JSON patch from the JSON document a to b, made to be
// applied to the YAML a was read from (apply): what did not change is
// not touched, so its comments and unknown fields stay. Unlike a
// patch for the API server it matches list items as the webhook changes
// lists, by what stays in front and behind: the native sidecar put before
// the init containers is one add at 0, not every init container replaced
// by the one before it.
func createPatch(a, b []byte) ([]patchOp, error) {
	var av, bv any
	if err := json.Unmarshal(a, &av); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &bv); err != nil {
		return nil, err
	}
	return diffValue(av, bv, "", nil), nil
}

func diffValue(a, b any, path string, ops []patchOp) []patchOp {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return append(ops, patchOp{"replace", path, b})
		}
		for _, k := range sortedAny(bv) {
			if old, ok := av[k]; ok {
				ops = diffValue(old, bv[k], pointer(path, k), ops)
			} else {
				ops = append(ops, patchOp{"add", pointer(path, k), bv[k]})
			}
		}
		for _, k := range sortedAny(av) {
			if _, ok := bv[k]; !ok {
				ops = append(ops, patchOp{"remove", pointer(path, k), nil})
			}
		}
		return ops
	case []any:
		bv, ok := b.([]any)
		if !ok {
			return append(ops, patchOp{"replace", path, b})
		}
		return diffList(av, bv, path, ops)
	}
	if !reflect.DeepEqual(a, b) {
		ops = append(ops, patchOp{"replace", path, b})
	}
	return ops
}

// diffList keeps the items a and b share in front and behind, and
// patches the middle item by item, then removes or adds what is left.
func diffList(a, b []any, path string, ops []patchOp) []patchOp {
	front := 0
	for front < len(a) && front < len(b) && reflect.DeepEqual(a[front], b[front]) {
		front++
	}
	back := 0
	for back < len(a)-front && back < len(b)-front && reflect.DeepEqual(a[len(a)-1-back], b[len(b)-1-back]) {
		back++
	}
	ma, mb := a[front:len(a)-back], b[front:len(b)-back]
	n := min(len(ma), len(mb))
	for i := range n {
		ops = diffValue(ma[i], mb[i], pointer(path, strconv.Itoa(front+i)), ops)
	}
	for i := len(ma) - 1; i >= n; i-- {
		ops = append(ops, patchOp{"remove", pointer(path, strconv.Itoa(front+i)), nil})
	}
	for i := n; i < len(mb); i++ {
		ops = append(ops, patchOp{"add", pointer(path, strconv.Itoa(front+i)), mb[i]})
	}
	return ops
}

// pointer is path with the JSON pointer token of key added.
func pointer(path, key string) string {
	return path + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

func sortedAny(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
