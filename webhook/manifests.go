package webhook

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// InjectManifests reads multi-document YAML and writes it back with every
// pod (and pod template of a Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job or CronJob) mutated as the webhook would. Documents of
// other kinds pass through unchanged. It is `loglet inject`: the preview a
// user runs before trusting the webhook. Namespace labels are not known
// offline, so only pods that opt in by annotation are injected.
// Warnings go to warn.
func InjectManifests(r io.Reader, w, warn io.Writer, cfg Config) error {
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for n := 0; ; {
		doc, err := docs.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", n+1, err)
		}
		// The reader keeps a document's "---" line; we write our own.
		doc = bytes.TrimPrefix(doc, []byte("---\n"))
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		n++
		out, err := injectDoc(doc, warn, cfg)
		if err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
		if n > 1 {
			io.WriteString(w, "---\n")
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
}

func injectDoc(doc []byte, warn io.Writer, cfg Config) ([]byte, error) {
	var meta struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	ns := meta.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	what := fmt.Sprintf("%s %s", meta.Kind, meta.Metadata.Name)
	// template mutates a pod template in place.
	template := func(t *corev1.PodTemplateSpec) error {
		pod := &corev1.Pod{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
		out, d, warnings, err := Inject(pod, ns, nil, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for _, w := range warnings {
			fmt.Fprintf(warn, "warning: %s: %s\n", what, w)
		}
		if d.Inject {
			t.ObjectMeta, t.Spec = out.ObjectMeta, out.Spec
		}
		return nil
	}
	var obj any
	var err error
	switch meta.Kind {
	case "Pod":
		var p corev1.Pod
		if err = yaml.Unmarshal(doc, &p); err == nil {
			t := corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}
			err = template(&t)
			p.ObjectMeta, p.Spec = t.ObjectMeta, t.Spec
			obj = &p
		}
	case "Deployment":
		obj, err = viaTemplate(doc, template, func(d *appsv1.Deployment) *corev1.PodTemplateSpec { return &d.Spec.Template })
	case "StatefulSet":
		obj, err = viaTemplate(doc, template, func(s *appsv1.StatefulSet) *corev1.PodTemplateSpec { return &s.Spec.Template })
	case "DaemonSet":
		obj, err = viaTemplate(doc, template, func(s *appsv1.DaemonSet) *corev1.PodTemplateSpec { return &s.Spec.Template })
	case "ReplicaSet":
		obj, err = viaTemplate(doc, template, func(s *appsv1.ReplicaSet) *corev1.PodTemplateSpec { return &s.Spec.Template })
	case "Job":
		obj, err = viaTemplate(doc, template, func(j *batchv1.Job) *corev1.PodTemplateSpec { return &j.Spec.Template })
	case "CronJob":
		obj, err = viaTemplate(doc, template, func(c *batchv1.CronJob) *corev1.PodTemplateSpec { return &c.Spec.JobTemplate.Spec.Template })
	default:
		return doc, nil
	}
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(obj)
}

// viaTemplate decodes doc as a T and injects into the pod template that
// tmpl finds in it.
func viaTemplate[T any](doc []byte, inject func(*corev1.PodTemplateSpec) error, tmpl func(*T) *corev1.PodTemplateSpec) (*T, error) {
	var obj T
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return nil, err
	}
	return &obj, inject(tmpl(&obj))
}
