package virtualnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/internal/poll"
)

// listing is what a reader of the volume folder sees: each visible name
// (symlinks resolved) with its content, and the hidden names.
func listing(t *testing.T, dir string) (files map[string]string, hidden []string) {
	t.Helper()
	files = map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			hidden = append(hidden, e.Name())
			continue
		}
		// Through the symlink, as a reader goes: a file, or a folder of them.
		root := filepath.Join(dir, e.Name())
		err := filepath.WalkDir(root+string(filepath.Separator), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			rel, _ := filepath.Rel(dir, path)
			files[rel] = string(b)
			return err
		})
		if errors.Is(err, os.ErrNotExist) || err != nil && strings.Contains(err.Error(), "not a directory") {
			var b []byte
			b, err = os.ReadFile(root)
			files[e.Name()] = string(b)
		}
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
	}
	return files, hidden
}

// timestamped is the kubelet's name for a payload folder.
var timestamped = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

// checkLayout checks the AtomicWriter layout: ..data a symlink to the
// one timestamped folder, and each visible name a symlink to ..data/name.
func checkLayout(t *testing.T, dir string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, dataDir))
	if err != nil {
		t.Fatalf("..data: %v", err)
	}
	if !timestamped.MatchString(target) {
		t.Errorf("..data points to %q, want a ..YYYY_MM_DD_HH_MM_SS.N folder", target)
	}
	_, hidden := listing(t, dir)
	want := []string{dataDir, target}
	slices.Sort(want)
	if !slices.Equal(hidden, want) {
		t.Errorf("hidden names %q, want %q (old payloads and ..data_tmp removed)", hidden, want)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || l != filepath.Join(dataDir, e.Name()) {
			t.Errorf("%s links to %q (%v), want %s", e.Name(), l, err, filepath.Join(dataDir, e.Name()))
		}
	}
}

// TestConfigMapVolume: a configMap volume holds the ConfigMap's keys (or
// the items asked for) laid out as the kubelet's AtomicWriter does, and
// follows the ConfigMap as it changes: a key changed, added or removed,
// the ConfigMap created after the pod (optional) or deleted (the files
// kept, as on a kubelet). A required ConfigMap that is missing is an
// error naming it, so the pod waits.
func TestConfigMapVolume(t *testing.T) {
	ctx := context.Background()
	cm := func(data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "shop"}, Data: data}
	}
	for _, tc := range []struct {
		name     string
		src      corev1.ConfigMapVolumeSource
		initial  *corev1.ConfigMap // nil: none
		want     map[string]string
		wantErr  string
		update   *corev1.ConfigMap // nil: deleted
		after    map[string]string
		unchange bool // the update leaves the volume as it was
	}{
		{name: "every key", initial: cm(map[string]string{"a.json": "1", "b.json": "2"}), want: map[string]string{"a.json": "1", "b.json": "2"},
			update: cm(map[string]string{"a.json": "10", "c.json": "3"}), after: map[string]string{"a.json": "10", "c.json": "3"}},
		{name: "items at their paths", src: corev1.ConfigMapVolumeSource{Items: []corev1.KeyToPath{{Key: "a.json", Path: "conf/app.json"}}},
			initial: cm(map[string]string{"a.json": "1", "b.json": "2"}), want: map[string]string{"conf/app.json": "1"},
			update: cm(map[string]string{"a.json": "2"}), after: map[string]string{"conf/app.json": "2"}},
		{name: "optional, created later", src: corev1.ConfigMapVolumeSource{Optional: ptr.To(true)}, want: map[string]string{},
			update: cm(map[string]string{"logconfigs.json": `{"version":1}`}), after: map[string]string{"logconfigs.json": `{"version":1}`}},
		{name: "required and missing", wantErr: "configmap shop/settings"},
		{name: "deleted: files kept", initial: cm(map[string]string{"a.json": "1"}), want: map[string]string{"a.json": "1"},
			after: map[string]string{"a.json": "1"}, unchange: true},
		{name: "the same again", initial: cm(map[string]string{"a.json": "1"}), want: map[string]string{"a.json": "1"},
			update: cm(map[string]string{"a.json": "1"}), after: map[string]string{"a.json": "1"}, unchange: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			if tc.initial != nil {
				if _, err := cs.CoreV1().ConfigMaps("shop").Create(ctx, tc.initial, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			p := &Provider{Client: cs, ConfigMapSync: 20 * time.Millisecond}
			src := tc.src
			src.Name = "settings"
			pd := &pod{spec: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: types.UID("u1")},
				Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &src}}}}}}
			vols, err := p.prepareVolumes(ctx, pd.spec, t.TempDir())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("prepareVolumes: %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dir := vols["conf"]
			check := func(want map[string]string) {
				t.Helper()
				got, _ := listing(t, dir)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("volume holds %v, want %v", got, want)
				}
				checkLayout(t, dir)
			}
			check(tc.want)
			before, _ := os.Readlink(filepath.Join(dir, dataDir))

			pd.volumes = vols
			pd.ctx, pd.halt = context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { p.syncConfigMaps(pd); close(done) }()
			defer func() { pd.halt(); <-done }()
			switch {
			case tc.update == nil:
				if err := cs.CoreV1().ConfigMaps("shop").Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			case tc.initial == nil:
				_, err = cs.CoreV1().ConfigMaps("shop").Create(ctx, tc.update, metav1.CreateOptions{})
			default:
				_, err = cs.CoreV1().ConfigMaps("shop").Update(ctx, tc.update, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.unchange {
				// Three resyncs after the change (each reads the
				// ConfigMap once), still the same folder.
				reads := func() int {
					n := 0
					for _, a := range cs.Actions() {
						if a.GetVerb() == "get" && a.GetResource().Resource == "configmaps" {
							n++
						}
					}
					return n
				}
				from := reads()
				poll.Until(t, 5*time.Second, "three resyncs after the change", func() bool { return reads() >= from+3 })
				if now, _ := os.Readlink(filepath.Join(dir, dataDir)); now != before {
					t.Fatalf("..data moved from %s to %s with nothing to change", before, now)
				}
				check(tc.after)
				return
			}
			// Swapped, and the old payload removed (which follows the swap).
			poll.Until(t, 5*time.Second, "the volume to follow the ConfigMap", func() bool {
				now, _ := os.Readlink(filepath.Join(dir, dataDir))
				_, err := os.Lstat(filepath.Join(dir, before))
				return now != before && errors.Is(err, os.ErrNotExist)
			})
			check(tc.after)
		})
	}
}

// TestConfigMapVolumeSwapIsAtomic: a reader of a file of the volume,
// reading all along while the payload is replaced a hundred times, always
// finds the file and reads one whole version of it — what the sidecar
// relies on when it reloads the rendered LogConfigs.
func TestConfigMapVolumeSwapIsAtomic(t *testing.T) {
	dir := t.TempDir()
	version := func(i int) []byte { return []byte(strings.Repeat(fmt.Sprintf("version %03d\n", i), 200)) }
	if _, err := writeAtomic(dir, map[string][]byte{"logconfigs.json": version(0)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(filepath.Join(dir, "logconfigs.json"))
			reads++
			if err == nil && (len(b) != len(version(0)) || strings.Count(string(b), string(b[:12])) != 200) {
				err = errors.New("a mix of versions")
			}
			if err != nil {
				readErr = fmt.Errorf("read %d: %w", reads, err)
				return
			}
		}
	}()
	for i := 1; i <= 100; i++ {
		changed, err := writeAtomic(dir, map[string][]byte{"logconfigs.json": version(i)}, time.Now())
		if err != nil || !changed {
			t.Fatalf("update %d: changed %v, %v", i, changed, err)
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("a reader during the swaps: %v", readErr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "logconfigs.json")); string(b) != string(version(100)) {
		t.Errorf("after 100 updates the file holds %.12q…", b)
	}
	checkLayout(t, dir)
	t.Logf("%d reads during 100 swaps, each a whole version", reads)
}

// TestWriteAtomicRefusesEscapes: a payload path leaving the volume is an
// error, as on the kubelet.
func TestWriteAtomicRefusesEscapes(t *testing.T) {
	for _, path := range []string{"../x", "/etc/x", "a/../../x", "..data", ""} {
		if _, err := writeAtomic(t.TempDir(), map[string][]byte{path: []byte("x")}, time.Now()); err == nil {
			t.Errorf("path %q accepted", path)
		}
	}
}
