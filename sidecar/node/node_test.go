package node

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	root := "/var/log/pods"
	for _, tc := range []struct {
		path string
		want Source
		ok   bool
	}{
		{"/var/log/pods/shop_web-7d9c5-x2x_0b1c-22aa/app/0.log", Source{"shop", "web-7d9c5-x2x", "0b1c-22aa", "app", 0}, true},
		{"/var/log/pods/kube-system_coredns-1_u/coredns/12.log", Source{"kube-system", "coredns-1", "u", "coredns", 12}, true},
		{"/var/log/pods/shop_web_uid/app/0.log.20261125-120000", Source{}, false}, // rotated by the kubelet: read through the live file
		{"/var/log/pods/shop_web_uid/app/0.log.20261125-120000.gz", Source{}, false},
		{"/var/log/pods/shop_web/app/0.log", Source{}, false},
		{"/var/log/pods/shop_web_uid_x/app/0.log", Source{}, false},
		{"/var/log/pods/_web_uid/app/0.log", Source{}, false},
		{"/var/log/pods/shop_web_uid/app/x.log", Source{}, false},
		{"/var/log/pods/shop_web_uid/app/-1.log", Source{}, false},
		{"/var/log/pods/shop_web_uid/0.log", Source{}, false},
		{"/var/log/other/shop_web_uid/app/0.log", Source{}, false},
	} {
		got, ok := ParsePath(root, tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSelect(t *testing.T) {
	d := &Dir{Root: "/var/log/pods"}
	res := d.Choose("/var/log/pods/shop_web_u1/app/3.log").Resource
	got := map[string]string{}
	for _, kv := range res {
		got[kv.Key] = kv.Value
	}
	if got["k8s.namespace.name"] != "shop" || got["k8s.pod.name"] != "web" || got["k8s.pod.uid"] != "u1" ||
		got["k8s.container.name"] != "app" || got["k8s.container.restart_count"] != "3" {
		t.Errorf("resource %v", got)
	}
	if ok, _ := filepath.Match(d.Glob(), "/var/log/pods/shop_web_u1/app/3.log"); !ok {
		t.Errorf("glob %s does not match a container log", d.Glob())
	}
}

// FuzzParsePath: any path either parses into parts that rebuild it, or is
// refused; never a panic.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/p/ns_pod_uid/c/0.log", "/p/a_b_c/d/12.log", "/p/../x", "/p/a_b_c/d/1.log.gz", "/p/a__c/d/0.log"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		s, ok := ParsePath("/p", path)
		if !ok {
			return
		}
		rebuilt := filepath.Join("/p", s.Namespace+"_"+s.Pod+"_"+s.UID, s.Container, strconv.Itoa(s.Restart)+".log")
		if got, ok := ParsePath("/p", rebuilt); !ok || got != s {
			t.Fatalf("%q parsed as %+v, which rebuilds to %q and parses as %+v, %v", path, s, rebuilt, got, ok)
		}
		if strings.Contains(s.Namespace+s.Pod+s.UID, "_") || strings.Contains(s.Container, "/") {
			t.Fatalf("%q: parts %+v hold a separator", path, s)
		}
	})
}
