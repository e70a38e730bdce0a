package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// ExpiryMetric is the gauge RegisterExpiry adds: when the serving
// certificate stops being valid, as Unix seconds. The chart's alert on a
// certificate near expiry reads it; the name is the gauge's only source.
const ExpiryMetric = "loglet_webhook_certificate_expiry_timestamp_seconds"

var expiryDesc = prometheus.NewDesc(ExpiryMetric,
	"NotAfter of the serving certificate the webhook presents now, as Unix seconds (no series until one is loaded). "+
		"With cert-mode self the webhook renews it with a third of its lifetime left; with cert-mode files whoever writes the files (cert-manager) does.",
	nil, nil)

// Serving returns the certificate a TLS server presents now: a
// tls.Config's GetCertificate, such as Rotator.GetCertificate or a
// certwatcher's.
type Serving func(*tls.ClientHelloInfo) (*tls.Certificate, error)

// RegisterExpiry adds ExpiryMetric to reg, read from serving at each
// scrape: a renewal or a reload of the files shows at the next scrape,
// and nothing has to remember to update it.
func RegisterExpiry(reg prometheus.Registerer, serving Serving) error {
	if err := reg.Register(expiryCollector(serving)); err != nil {
		return fmt.Errorf("register %s: %w", ExpiryMetric, err)
	}
	return nil
}

type expiryCollector Serving

func (c expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

// Collect reports nothing while no certificate is loaded (self mode before
// the Secret is written): a 0 would read as a certificate expired in 1970.
func (c expiryCollector) Collect(ch chan<- prometheus.Metric) {
	cert, err := c(nil)
	if err != nil || cert == nil || len(cert.Certificate) == 0 {
		return
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			ch <- prometheus.NewInvalidMetric(expiryDesc, fmt.Errorf("serving certificate: %w", err))
			return
		}
	}
	ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()))
}

// WatchFiles serves tls.crt and tls.key in dir (cert-mode files), read
// again when they change, as controller-runtime's webhook server would
// itself: made here so that RegisterExpiry can read what it serves. Run
// it (Start, or add it to the manager) for the reloads.
func WatchFiles(dir string) (*certwatcher.CertWatcher, error) {
	w, err := certwatcher.New(filepath.Join(dir, corev1.TLSCertKey), filepath.Join(dir, corev1.TLSPrivateKeyKey))
	if err != nil {
		return nil, fmt.Errorf("cert-mode files: %w (mount a kubernetes.io/tls Secret with %s and %s at --cert-dir, or use --cert-mode=self)",
			err, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return w, nil
}
