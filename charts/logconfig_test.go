package charts

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/internal/kubetest"
)

// TestLogConfigWebhookConfiguration: in both certificate modes the chart
// registers the LogConfig validation for creates and updates of both
// kinds, at the path the webhook serves, refusing while the webhook is
// down; self mode names the configuration for the webhook to publish its
// CA in, files mode carries the CA (or cert-manager's injection) as the
// pods' configuration does; the controller's flags follow the values.
func TestLogConfigWebhookConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name     string
		set      []string
		caBundle string // files mode: in clientConfig
		inject   string // files mode: cert-manager.io/inject-ca-from
		args     []string
		notArgs  []string
	}{
		{name: "self", args: []string{"--validating-webhook-config-name=loglet", "--webhook-config-name=loglet", "--reinject=off"},
			notArgs: []string{"--logconfig-controller=false"}},
		{name: "files with a CA", set: []string{"webhook.certMode=files", "webhook.certFiles.caBundle=Q0E="}, caBundle: "CA",
			args: []string{"--cert-mode=files", "--reinject=off"}, notArgs: []string{"--validating-webhook-config-name=loglet"}},
		{name: "files from cert-manager", set: []string{"webhook.certMode=files", "webhook.certFiles.injectCAFrom=loglet-system/loglet-webhook"},
			inject: "loglet-system/loglet-webhook", args: []string{"--cert-mode=files"}},
		{name: "evict", set: []string{"logConfig.reinject=evict"}, args: []string{"--reinject=evict"}},
		// An unquoted off in a values file reads as false.
		{name: "reinject false", set: []string{"logConfig.reinject=false"}, args: []string{"--reinject=off"}},
		{name: "no controller", set: []string{"logConfig.controller.enabled=false"}, args: []string{"--logconfig-controller=false", "--reinject=off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(Dir(), ReleaseName, ReleaseNamespace, tc.set...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Notes, "kubectl get logconfigs") {
				t.Errorf("NOTES.txt does not tell about LogConfigs:\n%s", r.Notes)
			}
			objs := objects(t, r.Manifests)
			vwc := find[admissionregv1.ValidatingWebhookConfiguration](t, objs, "ValidatingWebhookConfiguration", "loglet")
			mwc := find[admissionregv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", "loglet")
			if len(vwc.Webhooks) != 1 {
				t.Fatalf("ValidatingWebhookConfiguration webhooks: %+v, want one", vwc.Webhooks)
			}
			w := vwc.Webhooks[0]
			svc := w.ClientConfig.Service
			if svc == nil || svc.Name != "loglet-webhook" || svc.Namespace != ReleaseNamespace || *svc.Path != "/validate-loglet-io-v1alpha1-logconfig" || *svc.Port != 443 {
				t.Errorf("validating webhook's service: %+v", svc)
			}
			if len(w.Rules) != 1 {
				t.Fatalf("rules %+v, want one", w.Rules)
			}
			rule := w.Rules[0]
			ops := []string{}
			for _, op := range rule.Operations {
				ops = append(ops, string(op))
			}
			if strings.Join(ops, ",") != "CREATE,UPDATE" || strings.Join(rule.APIGroups, ",") != "loglet.io" || strings.Join(rule.APIVersions, ",") != "v1alpha1" ||
				strings.Join(rule.Resources, ",") != "logconfigs,clusterlogconfigs" || *rule.Scope != admissionregv1.AllScopes {
				t.Errorf("validating webhook's rule: %+v", rule)
			}
			if *w.FailurePolicy != admissionregv1.Fail || *w.SideEffects != admissionregv1.SideEffectClassNone || strings.Join(w.AdmissionReviewVersions, ",") != "v1" {
				t.Errorf("validating webhook: failurePolicy %v, sideEffects %v, versions %v", *w.FailurePolicy, *w.SideEffects, w.AdmissionReviewVersions)
			}
			if got := string(w.ClientConfig.CABundle); got != tc.caBundle || got != string(mwc.Webhooks[0].ClientConfig.CABundle) {
				t.Errorf("caBundle %q (the pods' webhook: %q), want %q in both", got, mwc.Webhooks[0].ClientConfig.CABundle, tc.caBundle)
			}
			const injectCA = "cert-manager.io/inject-ca-from"
			if vwc.Annotations[injectCA] != tc.inject || mwc.Annotations[injectCA] != tc.inject {
				t.Errorf("%s: %q on the ValidatingWebhookConfiguration, %q on the Mutating one; want %q on both", injectCA, vwc.Annotations[injectCA], mwc.Annotations[injectCA], tc.inject)
			}
			args := find[appsv1.Deployment](t, objs, "Deployment", "loglet-webhook").Spec.Template.Spec.Containers[0].Args
			for _, a := range tc.args {
				if !slices.Contains(args, a) {
					t.Errorf("webhook args %q lack %s", args, a)
				}
			}
			for _, a := range tc.notArgs {
				if slices.Contains(args, a) {
					t.Errorf("webhook args %q hold %s", args, a)
				}
			}
		})
	}
}

// TestManifestsHoldCRDs: manifests/*.yaml install the CRDs first, as helm
// install does, so that one kubectl apply -f installs everything; and the
// chart's crds/ folder is what they hold, unchanged.
func TestManifestsHoldCRDs(t *testing.T) {
	for _, m := range Manifests() {
		b, err := os.ReadFile(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		objs := objects(t, string(b))
		var kinds []string
		for _, o := range objs[:2] {
			kinds = append(kinds, o.GetKind()+" "+o.GetName())
		}
		want := []string{"CustomResourceDefinition clusterlogconfigs.loglet.io", "CustomResourceDefinition logconfigs.loglet.io"}
		if !slices.Equal(kinds, want) {
			t.Errorf("%s begins with %q, want %q", m.Path, kinds, want)
		}
		for _, crd := range []string{"loglet.io_logconfigs.yaml", "loglet.io_clusterlogconfigs.yaml"} {
			src, err := os.ReadFile(filepath.Join(Dir(), "crds", crd))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, bytes.TrimPrefix(bytes.TrimSpace(src), []byte("---\n"))) {
				t.Errorf("%s does not hold crds/%s as it is", m.Path, crd)
			}
		}
	}
}

// readmeExample is the YAML between <!-- example: name --> and
// <!-- end example --> in the chart's README.
func readmeExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example: " + regexp.QuoteMeta(name) + " -->\n```yaml\n(.*?)```\n<!-- end example -->").FindSubmatch(b)
	if m == nil {
		t.Fatalf("README.md has no example %q", name)
	}
	return string(m[1])
}

// TestLogConfigRBAC installs the chart into a real kube-apiserver and asks
// its RBAC authorizer (SubjectAccessReview) what the webhook's and the
// DaemonSet's service accounts may do: what the LogConfig controller
// needs, and not more — eviction only with reinject: evict, nothing of
// the controller's when it is off, read-only for the node agents. The
// README's LogConfig example is accepted by the installed CRDs.
func TestLogConfigRBAC(t *testing.T) {
	_, cfg := kubetest.Start(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kubetest.Namespaces(t, cfg, "shop")

	type access struct {
		verb, group, resource, sub, ns, name string
	}
	webhookSA := "system:serviceaccount:" + ReleaseNamespace + ":loglet-webhook"
	nodeSA := "system:serviceaccount:" + ReleaseNamespace + ":loglet-node"
	read := []access{
		{"list", "loglet.io", "logconfigs", "", "", ""}, {"watch", "loglet.io", "clusterlogconfigs", "", "", ""},
		{"get", "loglet.io", "logconfigs", "", "shop", "checkout"}, {"list", "", "namespaces", "", "", ""}, {"watch", "", "namespaces", "", "", ""},
	}
	controller := []access{
		{"patch", "loglet.io", "logconfigs", "status", "shop", "checkout"}, {"update", "loglet.io", "clusterlogconfigs", "status", "", "platform"},
		{"create", "", "configmaps", "", "shop", ""}, {"update", "", "configmaps", "", "shop", "loglet-logconfig"},
		{"delete", "", "configmaps", "", "shop", "loglet-logconfig"}, {"list", "", "configmaps", "", "", "loglet-logconfig"},
		{"watch", "", "configmaps", "", "", "loglet-logconfig"},
		{"create", "events.k8s.io", "events", "", "shop", ""}, {"create", "", "events", "", ReleaseNamespace, ""},
		{"create", "coordination.k8s.io", "leases", "", ReleaseNamespace, ""}, {"update", "coordination.k8s.io", "leases", "", ReleaseNamespace, "loglet-logconfig"},
	}
	// The node agents read pods too, for their own reasons.
	pods := []access{{"list", "", "pods", "", "", ""}, {"watch", "", "pods", "", "", ""}}
	evict := access{"create", "", "pods", "eviction", "shop", "web-1"}
	never := []access{
		{"update", "loglet.io", "logconfigs", "", "shop", "checkout"}, {"delete", "loglet.io", "clusterlogconfigs", "", "", "platform"},
		{"delete", "", "pods", "", "shop", "web-1"}, {"get", "", "secrets", "", "shop", "hub"},
		{"update", "coordination.k8s.io", "leases", "", ReleaseNamespace, "someone-else"}, {"update", "coordination.k8s.io", "leases", "", "shop", "loglet-logconfig"},
		{"list", "", "configmaps", "", "", ""}, {"get", "", "configmaps", "", "shop", "app-settings"}, {"update", "", "configmaps", "", "shop", "app-settings"},
		{"delete", "", "configmaps", "", "shop", "app-settings"}, {"create", "", "events", "", "shop", ""},
	}
	for _, tc := range []struct {
		name      string
		set       []string
		allowed   map[string][]access // service account → may
		forbidden map[string][]access // service account → may not
	}{
		{"defaults", nil,
			map[string][]access{webhookSA: slices.Concat(read, controller, pods)},
			map[string][]access{webhookSA: append(slices.Clone(never), evict)}},
		{"reinject evict", []string{"logConfig.reinject=evict"},
			map[string][]access{webhookSA: append(slices.Clone(controller), evict)},
			map[string][]access{webhookSA: never}},
		{"files, no controller", []string{"webhook.certMode=files", "logConfig.controller.enabled=false", "logConfig.reinject=evict"},
			map[string][]access{webhookSA: read},
			map[string][]access{webhookSA: slices.Concat(never, []access{evict}, controller, pods)}},
		{"node mode", []string{"nodeMode.enabled=true"},
			map[string][]access{nodeSA: slices.Concat(read, pods)},
			map[string][]access{nodeSA: slices.Concat(never, []access{evict}, controller)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Apply(ctx, cfg, tc.set...); err != nil {
				t.Fatal(err)
			}
			// The next case starts from nothing of this one's.
			defer func() {
				r, _ := Render(Dir(), ReleaseName, ReleaseNamespace, tc.set...)
				for _, o := range objects(t, r.Manifests) {
					if err := cl.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
						t.Errorf("delete %s %s: %v", o.GetKind(), o.GetName(), err)
					}
				}
			}()
			for want, set := range map[bool]map[string][]access{true: tc.allowed, false: tc.forbidden} {
				for user, list := range set {
					ns := strings.Split(user, ":")[2]
					for _, a := range list {
						sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
							User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
							ResourceAttributes: &authzv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Namespace: a.ns, Name: a.name},
						}}, metav1.CreateOptions{})
						if err != nil {
							t.Fatal(err)
						}
						if sar.Status.Allowed != want {
							t.Errorf("%s: %s %+v allowed %v, want %v", tc.name, user, a, sar.Status.Allowed, want)
						}
					}
				}
			}
		})
	}

	// The CRDs stay installed (Helm never deletes them): the README's
	// example is valid for them. Created without the webhook (its
	// configuration was deleted above), so this is the CRDs' own schema
	// and CEL rules.
	objs, err := Objects(readmeExample(t, "logconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("README example holds %d objects, want a LogConfig and a ClusterLogConfig", len(objs))
	}
	for _, o := range objs {
		if err := cl.Create(ctx, o); err != nil {
			t.Errorf("README example %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	// And a config the CEL rules refuse, with the message they give.
	bad := objs[0].DeepCopy()
	bad.SetName("bad")
	inputs := []any{map[string]any{"name": "etc", "files": []any{"/etc/passwd"}}}
	bad.Object["spec"].(map[string]any)["inputs"] = inputs
	if err := cl.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "/etc") {
		t.Errorf("a LogConfig reading /etc/passwd: %v, want it refused naming /etc", err)
	}
}
