package webhook

import (
	"fmt"
	"reflect"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// podPatch is the JSON patch that turns orig, the pod the API server sent,
// into out: one operation per field of metadata and of spec that changed,
// with the field's whole new value. Diffing the two documents member by
// member (jsonpatch.CreatePatch) was 40 % of an admission's CPU once the
// sidecar's configuration was no longer loaded per pod; and it removed
// whatever fields of the sent pod this build of k8s.io/api does not know,
// where this leaves them alone in every field it does not change.
func podPatch(orig, out *corev1.Pod) ([]jsonpatch.JsonPatchOperation, error) {
	if !reflect.DeepEqual(orig.TypeMeta, out.TypeMeta) || !reflect.DeepEqual(orig.Status, out.Status) {
		return nil, fmt.Errorf("the injected pod changed more than its metadata and spec")
	}
	ops, err := fieldOps(nil, "/metadata", reflect.ValueOf(orig.ObjectMeta), reflect.ValueOf(out.ObjectMeta))
	if err != nil {
		return nil, err
	}
	return fieldOps(ops, "/spec", reflect.ValueOf(orig.Spec), reflect.ValueOf(out.Spec))
}

// fieldOps appends to ops an operation for each field of the structs a and
// b (of one type) that differs, at prefix/<its JSON name>: add (which
// replaces a member that exists) with b's value, or remove when b's is
// empty and would be left out of b's JSON.
func fieldOps(ops []jsonpatch.JsonPatchOperation, prefix string, a, b reflect.Value) ([]jsonpatch.JsonPatchOperation, error) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue // not in the JSON either
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous || name == "" || name == "-" {
			return nil, fmt.Errorf("%s: field %s has no JSON member of its own", prefix, f.Name)
		}
		av, bv := a.Field(i), b.Field(i)
		if reflect.DeepEqual(av.Interface(), bv.Interface()) {
			continue
		}
		path := prefix + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
		if bv.IsZero() && strings.Contains(opts, "omitempty") {
			ops = append(ops, jsonpatch.NewOperation("remove", path, nil))
			continue
		}
		ops = append(ops, jsonpatch.NewOperation("add", path, bv.Interface()))
	}
	return ops, nil
}
