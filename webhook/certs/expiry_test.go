package certs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/poll"
)

// expiry gathers reg and returns ExpiryMetric's value, and whether it has
// a series.
func expiry(t *testing.T, reg *prometheus.Registry) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != ExpiryMetric {
			continue
		}
		if n := len(mf.GetMetric()); n != 1 {
			t.Fatalf("%s has %d series, want 1", ExpiryMetric, n)
		}
		return mf.GetMetric()[0].GetGauge().GetValue(), true
	}
	return 0, false
}

// serving makes a CA and a serving pair valid for lifetime from now, as
// self mode writes them.
func serving(t *testing.T, lifetime time.Duration) map[string][]byte {
	t.Helper()
	p := Policy{Name: "loglet", Hosts: []string{"loglet-webhook.loglet-system.svc"}, Lifetime: lifetime}
	data, _, _, err := plan(nil, p, time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func notAfter(t *testing.T, data map[string][]byte) float64 {
	t.Helper()
	l, err := parseLeaf(data[keyCert], data[keyKey])
	if err != nil {
		t.Fatal(err)
	}
	return float64(l.cert.NotAfter.Unix())
}

// TestExpirySelf: in cert-mode self the gauge is the NotAfter of the
// certificate the Rotator serves, none before the Secret is read, and a
// renewed certificate's as soon as the Secret brings it.
func TestExpirySelf(t *testing.T) {
	r, err := NewRotator(nil, Options{Namespace: "loglet-system", Secret: "loglet-webhook-certs", WebhookConfig: "loglet", Identity: "webhook-a",
		Policy: Policy{Name: "loglet", Hosts: []string{"loglet-webhook.loglet-system.svc"}, Lifetime: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := RegisterExpiry(reg, r.GetCertificate); err != nil {
		t.Fatal(err)
	}
	if v, ok := expiry(t, reg); ok {
		t.Errorf("%s = %v before any certificate is loaded; want no series", ExpiryMetric, v)
	}
	for _, lifetime := range []time.Duration{time.Hour, 90 * 24 * time.Hour} {
		data := serving(t, lifetime)
		r.onSecret(&corev1.Secret{Data: data})
		if v, ok := expiry(t, reg); !ok || v != notAfter(t, data) {
			t.Errorf("lifetime %v: %s = %v (series: %v), want the certificate's NotAfter %v", lifetime, ExpiryMetric, v, ok, notAfter(t, data))
		}
	}
	if err := RegisterExpiry(reg, r.GetCertificate); err == nil {
		t.Error("registering the gauge twice: no error")
	}
}

// TestExpiryFiles: in cert-mode files the gauge follows tls.crt as the
// watcher reloads it (cert-manager renewing the Secret).
func TestExpiryFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(data map[string][]byte) {
		t.Helper()
		for _, k := range []string{keyCert, keyKey} {
			// Written aside and renamed, as the kubelet swaps a Secret
			// volume's files: the watcher never reads half a pair.
			tmp := filepath.Join(dir, "."+k)
			if err := os.WriteFile(tmp, data[k], 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(dir, k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := WatchFiles(dir); err == nil {
		t.Fatal("WatchFiles of a folder without tls.crt: no error")
	}
	first := serving(t, 24*time.Hour)
	write(first)
	w, err := WatchFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := RegisterExpiry(reg, w.GetCertificate); err != nil {
		t.Fatal(err)
	}
	if v, ok := expiry(t, reg); !ok || v != notAfter(t, first) {
		t.Fatalf("%s = %v (series: %v), want tls.crt's NotAfter %v", ExpiryMetric, v, ok, notAfter(t, first))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher: %v", err)
		}
	})
	renewed := serving(t, 48*time.Hour)
	write(renewed)
	poll.Until(t, 30*time.Second, "the gauge to show the renewed tls.crt", func() bool {
		v, ok := expiry(t, reg)
		return ok && v == notAfter(t, renewed)
	})
}
