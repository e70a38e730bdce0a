package record

import "testing"

func TestPoolGrows(t *testing.T) {
	pl := NewPool(64, 1024)
	p := pl.Get()
	if cap(p.Data) != 64 || pl.Grown(p) {
		t.Fatalf("new buffer holds %d bytes, want 64", cap(p.Data))
	}
	p.Data = append(p.Data, "some lines\n"...)
	if !pl.Grow(p) || cap(p.Data) != 1024 || string(p.Data) != "some lines\n" || !pl.Grown(p) {
		t.Fatalf("grown buffer: cap %d, data %q", cap(p.Data), p.Data)
	}
	if pl.Grow(p) {
		t.Error("grew beyond the maximum")
	}
	if next := pl.GetLike(p); cap(next.Data) != 1024 {
		t.Errorf("the next package of a fast source holds %d bytes, want 1024", cap(next.Data))
	}
	pl.Put(p)
	pl.Put(&Package{Data: make([]byte, 0, 100)}) // a copy of another size: not kept
	for range 3 {
		if q := pl.Get(); cap(q.Data) != 64 || len(q.Data) != 0 {
			t.Fatalf("pooled small buffer: len %d, cap %d", len(q.Data), cap(q.Data))
		}
	}
}
