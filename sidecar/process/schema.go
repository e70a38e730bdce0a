package process

import (
	"slices"
	"strings"
)

// Schema is the JSON Schema of a processors list, from the same keys Parse
// reads: the chart's values.schema.json holds it, so helm refuses a
// misspelt processor or key before an agent would.
func Schema() map[string]any {
	str := map[string]any{"type": "string"}
	strs := map[string]any{"type": "array", "items": str}
	var severities []string
	for s := range severityNames {
		severities = append(severities, s, strings.ToLower(s))
	}
	slices.Sort(severities)
	keys := map[string]any{
		"match":            str,
		"field":            str,
		"min-severity":     map[string]any{"enum": severities},
		"builtin":          map[string]any{"type": "array", "items": map[string]any{"enum": append(slices.Clone(Builtins), "all")}},
		"patterns":         strs,
		"replace":          str,
		"hash":             map[string]any{"enum": []string{"sha256"}},
		"lines-per-second": map[string]any{"type": "number", "exclusiveMinimum": 0},
		"burst":            map[string]any{"type": "number", "minimum": 1},
	}
	attributes := map[string]map[string]any{
		"set": {"type": "object", "additionalProperties": map[string]any{"oneOf": []any{str, map[string]any{
			"type": "object", "additionalProperties": false, "required": []string{"from-label"},
			"properties": map[string]any{"from-label": str}}}}},
		"rename": {"type": "object", "additionalProperties": str},
		"remove": strs,
	}
	props := map[string]any{"name": map[string]any{"type": "string", "pattern": "^[A-Za-z0-9_#-]{1,64}$"}}
	for _, kind := range Kinds {
		kp := map[string]any{}
		for _, k := range kindKeys[kind] {
			if k == "attributes" {
				kp[k] = attributes[kind]
			} else {
				kp[k] = keys[k]
			}
		}
		props[kind] = map[string]any{"type": "object", "additionalProperties": false, "properties": kp}
	}
	return map[string]any{
		"type":        "array",
		"description": "processors run on the records before they leave the agent (drop, keep, redact, set, rename, remove, limit); see docs/configuration.md",
		"items": map[string]any{"type": "object", "additionalProperties": false, "properties": props,
			"minProperties": 1, "maxProperties": 2},
	}
}
