package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// encodedInputs write the benchmark's workloads in another encoding: a
// Chinese Java application's log in GBK (Logtail's everyday case), and the
// nginx workload as a Windows program writes UTF-16LE (with its BOM).
var encodedInputs = map[string]func(path string, size int64) error{
	"gbk": func(path string, size int64) error {
		return writeEncoded(path, size, nil, simplifiedchinese.GBK.NewEncoder().Writer, func(w io.Writer, i int) {
			ts := start.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02 15:04:05.000")
			fmt.Fprintf(w, "%s INFO  [http-nio-8080-exec-%d] c.e.shop.OrderController - 订单 %d 已由用户 %d 提交，库存检查通过，耗时 %d 毫秒\n", ts, i%16, i, i%9973, i%300)
		})
	},
	"utf16le": func(path string, size int64) error {
		return writeEncoded(path, size, []byte{0xff, 0xfe}, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder().Writer, nginxLine)
	},
}

func writeEncoded(path string, size int64, bom []byte, enc func(io.Writer) io.Writer, line func(w io.Writer, i int)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	out := &countingWriter{w: bufio.NewWriterSize(f, 1<<20)}
	if _, err := out.Write(bom); err != nil {
		return err
	}
	w := enc(out)
	for i := 0; out.n < size; i++ {
		line(w, i)
	}
	if err := out.w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// BenchmarkEncoding: rows gbk→null and utf-16le→null, the agent decoding
// every line (target: 300 MB of file per CPU-second).
func BenchmarkEncoding(b *testing.B) {
	dir := benchDir(b)
	size := inputBytes()
	bin := buildAgent(b, b.TempDir())
	for _, r := range []struct{ name, input, encoding string }{
		{"gbk→null", "gbk", "gbk"},
		{"utf-16le→null", "utf16le", "utf-16le"},
	} {
		input := filepath.Join(dir, r.input+".log")
		if fi, err := os.Stat(input); err != nil || fi.Size() < size {
			if err := encodedInputs[r.input](input, size); err != nil {
				b.Fatal(err)
			}
		}
		fi, err := os.Stat(input)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(r.name, func(b *testing.B) {
			for range b.N {
				warm(b, input)
				cmd := exec.Command(bin, "agent", "--once", "--path", input, "--state-dir", b.TempDir(), "--sink", "null://", "--log-level", "warn", "--encoding", r.encoding)
				cmd.Stderr = os.Stderr
				t0 := time.Now()
				cpu, user, sys, mem := runMeasured(b, cmd)
				wall := time.Since(t0)
				mb := float64(fi.Size()) / 1e6
				b.ReportMetric(mb/wall.Seconds(), "MB/s")
				b.ReportMetric(mb/cpu.Seconds(), "MB/cpu-s")
				b.ReportMetric(mib(mem.Peak), "peak-RSS-MiB")
				fmt.Printf("%-15s %6.0f MB in %5.2fs wall, %5.2fs CPU (user %.2fs, sys %.2fs): %5.0f MB/s, %5.0f MB per CPU-second, peak RSS %.1f MiB\n",
					r.name, mb, wall.Seconds(), cpu.Seconds(), user.Seconds(), sys.Seconds(), mb/wall.Seconds(), mb/cpu.Seconds(), mib(mem.Peak))
			}
		})
	}
}
