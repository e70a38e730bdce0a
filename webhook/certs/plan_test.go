package certs

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// verifies tells whether data's serving certificate verifies for host
// against bundle at now, as the API server would check it.
func verifies(t *testing.T, data map[string][]byte, bundle []byte, host string, now time.Time) error {
	t.Helper()
	l, err := parseLeaf(data[keyCert], data[keyKey])
	if err != nil {
		t.Fatalf("serving pair: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	_, err = l.cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, CurrentTime: now})
	return err
}

// TestPlanRotatesWithoutAGap runs the plan over five lifetimes the way the
// leader does (write, then publish the bundle) while a client trusts only
// what was published settle ago, as a slow API server would. At no moment
// may the served certificate fail that client.
func TestPlanRotatesWithoutAGap(t *testing.T) {
	p := Policy{Name: "loglet", Hosts: []string{"loglet-webhook.loglet-system.svc", "loglet-webhook"}, Lifetime: time.Hour}
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var data map[string][]byte
	type publication struct {
		bundle []byte
		at     time.Time
	}
	var pubs []publication
	cas, leaves := 0, 0
	for now := start; now.Before(start.Add(5 * p.Lifetime)); now = now.Add(p.Lifetime / 200) {
		var since time.Time
		if len(pubs) > 0 {
			since = pubs[len(pubs)-1].at
		}
		for range 5 { // a few steps at one moment, as the leader loops while there is work
			next, reason, wait, err := plan(data, p, now, since)
			if err != nil {
				t.Fatal(err)
			}
			if next == nil {
				if wait <= 0 {
					t.Fatalf("%v: nothing to do but wait %v", now.Sub(start), wait)
				}
				break
			}
			if strings.Contains(reason, "CA") && !bytes.Equal(next[keyCACert], data[keyCACert]) {
				cas++
			}
			if !bytes.Equal(next[keyCert], data[keyCert]) {
				leaves++
			}
			data = next
			if len(pubs) == 0 || !bytes.Equal(pubs[len(pubs)-1].bundle, data[keyBundle]) {
				pubs = append(pubs, publication{data[keyBundle], now})
				since = now
			}
		}
		// What a client that lags settle behind trusts.
		seen := pubs[0].bundle
		for _, pub := range pubs {
			if !pub.at.After(now.Add(-p.settle())) {
				seen = pub.bundle
			}
		}
		if now.After(start) {
			if err := verifies(t, data, seen, p.Hosts[0], now); err != nil {
				t.Fatalf("%v into the run: served certificate fails a client with the bundle published %v ago: %v", now.Sub(start), p.settle(), err)
			}
		}
	}
	// One CA a lifetime and a third... then two thirds: at least 6 in 5 lifetimes.
	if cas < 6 || leaves < 7 {
		t.Errorf("in 5 lifetimes: %d CAs, %d serving certificates; want renewals every two thirds of a lifetime", cas, leaves)
	}
	if n := len(parseBundle(data[keyBundle])); n > 2 {
		t.Errorf("bundle holds %d CAs; expired ones should be gone", n)
	}
}

func TestPlan(t *testing.T) {
	p := Policy{Name: "loglet", Hosts: []string{"a.ns.svc", "127.0.0.1"}, Lifetime: time.Hour}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	fresh, _, _, err := plan(nil, p, now, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifies(t, fresh, fresh[keyBundle], "a.ns.svc", now); err != nil {
		t.Fatalf("first certificate: %v", err)
	}
	with := func(k string, v []byte) map[string][]byte {
		d := map[string][]byte{}
		for key, val := range fresh {
			d[key] = val
		}
		d[k] = v
		return d
	}
	for _, tc := range []struct {
		name      string
		data      map[string][]byte
		policy    Policy
		published time.Time
		at        time.Time
		want      string // in the reason; "" means nothing to write
	}{
		{"current: nothing to do", fresh, p, now, now.Add(time.Minute), ""},
		{"garbage CA starts over", with(keyCAKey, []byte("junk")), p, now, now, "CA unreadable"},
		{"garbage serving pair reissued at once", with(keyCert, []byte("junk")), p, time.Time{}, now, "serving certificate missing"},
		{"expired CA starts over", fresh, p, now, now.Add(2 * time.Hour), "CA expired"},
		{"CA with a third left: new CA first", fresh, p, now, now.Add(41 * time.Minute), "new CA added"},
		{"new host, bundle not published: wait", fresh, Policy{Name: "loglet", Hosts: []string{"b.ns.svc"}, Lifetime: time.Hour}, time.Time{}, now, ""},
		{"new host, bundle published: reissue", fresh, Policy{Name: "loglet", Hosts: []string{"b.ns.svc"}, Lifetime: time.Hour}, now, now.Add(time.Minute), "serving certificate renewed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, reason, wait, err := plan(tc.data, tc.policy, tc.at, tc.published)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if next != nil || wait <= 0 {
					t.Fatalf("wrote (%q) or no wait (%v); want nothing to do yet", reason, wait)
				}
				return
			}
			if next == nil || !strings.Contains(reason, tc.want) {
				t.Fatalf("reason %q (wrote: %v), want %q", reason, next != nil, tc.want)
			}
		})
	}
	if _, _, _, err := plan(nil, Policy{Lifetime: time.Hour}, now, now); err == nil {
		t.Error("a policy without hosts was accepted")
	}
}
