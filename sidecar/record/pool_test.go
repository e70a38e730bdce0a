package record

import "testing"

func TestPoolGrows(t *testing.T) {
	pl := NewPool(64, 1024)
	p := pl.Get()
	if cap(p.Data) != 64 {
		t.Fatalf("new buffer holds %d bytes, want 64", cap(p.Data))
	}
	p.Data = append(p.Data, "some lines\n"...)
	if !pl.Grow(p) || cap(p.Data) != 1024 || string(p.Data) != "some lines\n" {
		t.Fatalf("grown buffer: cap %d, data %q", cap(p.Data), p.Data)
	}
	if pl.Grow(p) {
		t.Error("grew beyond the maximum")
	}
	pl.Put(p)
	pl.Put(&Package{Data: make([]byte, 0, 4096)}) // a copy of another size: not kept
	for range 3 {
		if q := pl.Get(); cap(q.Data) < 64 || cap(q.Data) > 1024 || len(q.Data) != 0 {
			t.Fatalf("pooled buffer: len %d, cap %d", len(q.Data), cap(q.Data))
		}
	}
}
