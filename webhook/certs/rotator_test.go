package certs

import (
	"bytes"
	"strings"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestReadyOnlyWhenTrusted: a replica is ready once the API server can
// verify what it serves — its certificate loaded from the Secret and the
// CA that signed it in the webhook configuration's caBundle.
func TestReadyOnlyWhenTrusted(t *testing.T) {
	p := Policy{Name: "loglet", Hosts: []string{"loglet-webhook.loglet-system.svc"}, Lifetime: time.Hour}
	now := time.Now()
	first, _, _, err := plan(nil, p, now, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// The CA due for renewal: the new CA joins the bundle, the serving
	// certificate stays the one the first CA signed.
	renewing, _, _, err := plan(first, p, now.Add(p.Lifetime*3/4), now)
	if err != nil {
		t.Fatal(err)
	}
	// So the CA that signed what is served is the second of the bundle.
	if n := len(parseBundle(renewing[keyBundle])); n != 2 || !bytes.Equal(renewing[keyCert], first[keyCert]) {
		t.Fatalf("renewal step: bundle of %d CAs, serving certificate kept: %v; want 2 CAs and the first certificate", n, bytes.Equal(renewing[keyCert], first[keyCert]))
	}
	other, _, _, err := plan(nil, p, now, time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		secret    map[string][]byte // nil: not written yet
		published []byte
		wantErr   string // "" means ready
	}{
		{name: "no Secret yet", wantErr: "Secret loglet-system/loglet-webhook-certs is not written"},
		{name: "bundle not published yet", secret: first, wantErr: "caBundle of MutatingWebhookConfiguration loglet does not hold its CA"},
		{name: "another CA published", secret: first, published: other[keyBundle], wantErr: "not trusted yet"},
		{name: "its CA published", secret: first, published: first[keyBundle]},
		{name: "old and new CA published", secret: renewing, published: renewing[keyBundle]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRotator(nil, Options{Namespace: "loglet-system", Secret: "loglet-webhook-certs", WebhookConfig: "loglet", Identity: "webhook-a", Policy: p})
			if err != nil {
				t.Fatal(err)
			}
			if tc.secret != nil {
				r.onSecret(&corev1.Secret{Data: tc.secret})
			}
			r.observe(&admissionregv1.MutatingWebhookConfiguration{Webhooks: []admissionregv1.MutatingWebhook{{Name: "pods.loglet.io", ClientConfig: admissionregv1.WebhookClientConfig{CABundle: tc.published}}}}, now)
			err = r.Ready(nil)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("not ready: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Ready() = %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
