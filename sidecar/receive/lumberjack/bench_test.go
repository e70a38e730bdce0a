package lumberjack

import (
	"testing"
)

// BenchmarkEvent: a Filebeat event (a 200-byte message and its fields) to
// an inbox record.
func BenchmarkEvent(b *testing.B) {
	ev := []byte(`{"@timestamp":"2026-12-01T10:00:00.000Z","@metadata":{"beat":"filebeat","type":"_doc","version":"9.1.0"},"agent":{"type":"filebeat","version":"9.1.0"},"ecs":{"version":"8.0.0"},"host":{"name":"vm-7"},"input":{"type":"filestream"},"log":{"file":{"path":"/var/log/app.log"},"offset":123456},"message":"seq=1 sent=1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Event(ev); err != nil {
			b.Fatal(err)
		}
	}
}
