//go:build !slim

package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"image"
	"image/color/palette"
	"image/draw"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/nats-io/nkeys"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/testpki"
)

// consoleHub runs `loglet hub --console` with extra flags and returns the
// hub's sink URL and the console's base URL once it answers.
func consoleHub(t *testing.T, args ...string) (sinkURL, consoleURL string) {
	t.Helper()
	hubAddr, consoleAddr := freeport.Addr(t), freeport.Addr(t)
	start(t, nil, append([]string{"hub", "--listen", hubAddr, "--data-dir", t.TempDir(), "--console", consoleAddr}, args...)...)
	consoleURL = "http://" + consoleAddr
	poll.Until(t, 20*time.Second, "the console to answer", func() bool {
		resp, err := http.Get(consoleURL + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return "nats://" + hubAddr + "/LOGLET", consoleURL
}

// TestConsoleOnASecuredHub: a hub whose clients need TLS and an nkey
// serves its console too, which reads the hub in process (issue 23; it
// refused to start before).
func TestConsoleOnASecuredHub(t *testing.T) {
	dir := t.TempDir()
	pki, err := testpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.Issue("hub", pkix.Name{CommonName: "hub"}, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	_, consoleURL := consoleHub(t, "--tls-cert", pki.Path("hub.crt"), "--tls-key", pki.Path("hub.key"), "--nkeys-file", writeFile(t, pub+"\n"))
	resp, err := http.Get(consoleURL + "/api/v1/query?since=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !json.Valid(body) {
		t.Errorf("query on a TLS and nkeys hub: %d %s", resp.StatusCode, body)
	}
}

// TestConsoleRefusesToStart: a console beyond the loopback without a
// token, or one that could not read its hub, does not start, and says
// how to fix it.
func TestConsoleRefusesToStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"--console", "0.0.0.0:0"}, "--console-token-file"},
		{"short token", []string{"--console", "0.0.0.0:0", "--console-token-file", writeFile(t, "short\n")}, "at least 16"},
		{"missing token file", []string{"--console", "127.0.0.1:0", "--console-token-file", "/nonexistent/token"}, "console-token-file"},
		{"token without console", []string{"--console-token-file", writeFile(t, "0123456789abcdef0123")}, "without --console"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(loglet, append([]string{"hub", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("loglet hub %s: %v, printed %q; want a failure naming %s", strings.Join(tc.args, " "), err, out, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConsoleToken: with a token file, the page and the API answer 401
// without the token and work with it.
func TestConsoleToken(t *testing.T) {
	const token = "c0ns0le-t0ken-for-the-test"
	_, base := consoleHub(t, "--console-token-file", writeFile(t, token+"\n"))
	for _, tc := range []struct {
		name     string
		user, pw string
		bearer   string
		want     int
	}{
		{"none", "", "", "", http.StatusUnauthorized},
		{"wrong", "", "", "nope", http.StatusUnauthorized},
		{"bearer", "", "", token, http.StatusOK},
		{"basic", "me", token, "", http.StatusOK},
	} {
		for _, path := range []string{"/", "/api/v1/query?since=1h"} {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			if tc.pw != "" {
				req.SetBasicAuth(tc.user, tc.pw)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: status %d, want %d", tc.name, path, resp.StatusCode, tc.want)
			}
		}
	}
}

// TestConsoleHubWithPassword: on a hub whose clients need a password, the
// console reads with the clients' user and password.
func TestConsoleHubWithPassword(t *testing.T) {
	_, base := consoleHub(t, "--user", "reader", "--password-file", writeFile(t, "pa55word-of-the-test\n"))
	resp, err := http.Get(base + "/api/v1/sources")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Sources []json.RawMessage
		Error   string
	}
	json.NewDecoder(resp.Body).Decode(&s)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d: %s", resp.StatusCode, s.Error)
	}
}

// browser starts a headless Chromium (CHROMIUM, which make test sets
// from hack/chromium.sh) with nothing that reaches the network.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := os.Getenv("CHROMIUM")
	if bin == "" {
		t.Skip("CHROMIUM is not set: make test sets it (hack/chromium.sh installs Debian's chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return ctx
}

// run runs browser actions with a deadline, failing the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// js runs a JavaScript statement in the page.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](expr)
}

// waitFor polls a JavaScript condition in the page.
func waitFor(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))
}

// rowsJS lists the bodies of the rows of a table body.
func rowsJS(tbody string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent)`, "#"+tbody+" tr.rec td.body")
}

// screenshot writes the page as docs/img/NAME.png when run with -update.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*update {
		return
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	// In 256 colours: a third of the bytes, and the page has few colours.
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	small := image.NewPaletted(img.Bounds(), palette.Plan9)
	draw.Draw(small, img.Bounds(), img, img.Bounds().Min, draw.Src)
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, small); err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(filepath.Join("..", "..", "docs", "img", name+".png"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// liveOn opens the console on the records whose text holds word, turns
// live tail on and waits for "word 000", written to log, to show: the
// tail is running.
func liveOn(t *testing.T, ctx context.Context, base, log, word string) {
	t.Helper()
	run(t, ctx, "open the page",
		chromedp.Navigate(base+"/?since=2h&grep="+url.QueryEscape(word)),
		waitFor(`document.getElementById("status").textContent.endsWith("record(s) shown")`),
		chromedp.Click(chromedp.CSS(`#live`)),
		waitFor(`document.getElementById("status").textContent === "live: waiting for new records"`),
	)
	appendLines(t, log, word, 0, 0)
	waitPage(t, ctx, "the first live record", fmt.Sprintf(`[...document.querySelectorAll("#rows tr.rec td.body")].map(e => e.textContent).join("|") === "%s 000"`, word))
}

// appendLines appends the records "word from" to "word to" to the log,
// in one write.
func appendLines(t *testing.T, log, word string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, `{"level":"info","msg":"%s %03d"}`+"\n", word, i)
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

// seqBodies are the bodies "word from" down to "word to".
func seqBodies(word string, from, to int) []string {
	var s []string
	for i := from; i >= to; i-- {
		s = append(s, fmt.Sprintf("%s %03d", word, i))
	}
	return s
}

// ends says briefly what rows are: the first and last three.
func ends(rows []string) string {
	if len(rows) <= 6 {
		return fmt.Sprintf("%q", rows)
	}
	return fmt.Sprintf("%q … %q", rows[:3], rows[len(rows)-3:])
}

// waitPage waits for a condition on the page; on a timeout it fails
// saying what the page shows: its status line and its rows.
func waitPage(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, waitFor(cond)); err != nil {
		status := eval[string](t, ctx, `document.getElementById("status").textContent`)
		rows := eval[[]string](t, ctx, `[...document.querySelectorAll("#rows tr")].map(tr => (tr.querySelector("td.body") || tr).textContent)`)
		t.Fatalf("%s: %v; the page says %q over %d rows, %s", what, err, status, len(rows), ends(rows))
	}
}

// colourScheme emulates the system's prefers-color-scheme ("" stops).
func colourScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// cssColours reads the light and the dark value of a colour property from
// the stylesheet (#rrggbb, in :root then in the dark block), as the
// browser writes a computed colour.
func cssColours(t *testing.T, css []byte, name string) []string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(name)+`:\s*#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b`).FindAllSubmatch(css, -1)
	if len(m) != 2 {
		t.Fatalf("style.css sets %s %d times, want twice (light, then dark)", name, len(m))
	}
	var out []string
	for _, v := range m {
		hex := string(v[1])
		if len(hex) == 3 { // #abc is #aabbcc
			hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
		}
		n, _ := strconv.ParseUint(hex, 16, 32)
		out = append(out, fmt.Sprintf("rgb(%d, %d, %d)", n>>16, n>>8&0xff, n&0xff))
	}
	return out
}

// luminance is the relative luminance of a computed colour rgb(r, g, b).
func luminance(t *testing.T, rgb string) float64 {
	t.Helper()
	var c [3]float64
	if _, err := fmt.Sscanf(rgb, "rgb(%g, %g, %g)", &c[0], &c[1], &c[2]); err != nil {
		t.Fatalf("colour %q: %v", rgb, err)
	}
	for i, v := range c {
		v /= 255
		if v <= 0.03928 {
			c[i] = v / 12.92
		} else {
			c[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

// orderLine is record i of the browser test's app: i minutes after an
// hour ago; every tenth (3, 13, …) failed, an error.
func orderLine(start time.Time, i int) string {
	level, word := "info", "ok"
	if i%10 == 3 {
		level, word = "error", "failed"
	}
	return fmt.Sprintf(`{"ts":%q,"level":%q,"msg":"order %02d %s","order":%d}`, start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), level, i, word, i) + "\n"
}

// payloads are bodies an attacker may write, each of which would set
// window.pwned if it ran.
var payloads = []string{
	`<script>window.pwned=1</script> pwned`,
	`<img src=x onerror="window.pwned=2"> pwned`,
	`javascript:window.pwned=3 pwned`,
	`</textarea><script>window.pwned=4</script> pwned`,
	`</td></tr><svg onload="window.pwned=5"> pwned`,
}

// TestConsoleBrowser drives the console in a real headless Chromium,
// against a real loglet hub fed by a real loglet agent: a search typed
// into the page, a drag across the chart, a record's context, a live
// tail (its pause, its 500 rows), records that try to run script, and
// the dark and light colours.
func TestConsoleBrowser(t *testing.T) {
	ctx := browser(t)
	sinkURL, base := consoleHub(t)
	dir := t.TempDir()
	startTime := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	var app strings.Builder
	for i := range 60 {
		app.WriteString(orderLine(startTime, i))
	}
	if err := os.WriteFile(filepath.Join(dir, "app.log"), []byte(app.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var inj strings.Builder
	for i, p := range payloads {
		b, _ := json.Marshal(map[string]any{
			"ts": startTime.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "level": "warn", "msg": p,
			"link": "javascript:window.pwned=6", "html": `<img src=x onerror="window.pwned=7">`, "close": `</textarea><script>window.pwned=8</script>`,
		})
		inj.Write(append(b, '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, "inj.log"), []byte(inj.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, "--path", dir+"/*.log", "--state-dir", t.TempDir(), "--sink", sinkURL, "--format", "json", "--time-key", "ts",
		"--pod-namespace", "shop", "--pod-name", "web-1", "--container-name", "app", "--batch-wait", "100ms", "--batch-bytes", "2KiB")
	poll.Until(t, 30*time.Second, "the hub to hold the 65 records", func() bool {
		resp, err := http.Get(base + "/api/v1/query?since=2h&limit=1000")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var a struct{ Records []json.RawMessage }
		json.NewDecoder(resp.Body).Decode(&a)
		return len(a.Records) == 65
	})

	t.Run("search", func(t *testing.T) {
		run(t, ctx, "search",
			chromedp.Navigate(base+"/?since=2h"),
			waitFor(`document.querySelectorAll("#rows tr.rec").length === 65`),
			waitFor(`document.querySelector('select[name=namespace] option[value="shop"]') !== null`),
			waitFor(`document.querySelectorAll("#chart rect.bar-WARN").length > 0`),
		)
		screenshot(t, ctx, "console-search")
		// What a reader waits for: the first paint, and the first page of
		// records with its chart (a figure, not a test of speed).
		paint := eval[float64](t, ctx, `(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime`)
		served := eval[float64](t, ctx, `(() => { const n = performance.getEntriesByType("navigation")[0]; return n.responseEnd - n.requestStart; })()`)
		t.Logf("first contentful paint %.0f ms after navigation (a browser just started); the page served in %.1f ms", paint, served)
		run(t, ctx, "search",
			chromedp.SetValue(chromedp.CSS(`select[name=namespace]`), "shop"),
			chromedp.SendKeys(chromedp.CSS(`input[name=grep]`), "failed"),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			waitFor(`document.querySelectorAll("#rows tr.rec").length === 6`),
			waitFor(`document.querySelectorAll("#chart rect.bar-ERROR").length > 0`),
		)
		bodies := eval[[]string](t, ctx, rowsJS("rows"))
		loc := eval[string](t, ctx, "location.href")
		want := []string{"order 53 failed", "order 43 failed", "order 33 failed", "order 23 failed", "order 13 failed", "order 03 failed"}
		if strings.Join(bodies, "|") != strings.Join(want, "|") {
			t.Errorf("rows %q, want %q", bodies, want)
		}
		u, _ := url.Parse(loc)
		if q := u.Query(); q.Get("grep") != "failed" || q.Get("since") != "2h" || q.Get("namespace") != "shop" {
			t.Errorf("the page's URL %s does not hold the query", loc)
		}
	})

	t.Run("chart drag narrows the range", func(t *testing.T) {
		box := eval[[]float64](t, ctx, `(() => { const b = document.getElementById("chart").getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; })()`)
		x0, x1, y := box[0]+0.75*box[2], box[0]+box[2]-2, box[1]+box[3]/2
		run(t, ctx, "drag",
			chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x0, y, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x0+x1)/2, y, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x1, y, chromedp.ButtonLeft),
			waitFor(`location.search.includes("since-time") && document.querySelectorAll("#rows tr.rec").length === 3`),
		)
		bodies := eval[[]string](t, ctx, rowsJS("rows"))
		loc := eval[string](t, ctx, "location.href")
		want := []string{"order 53 failed", "order 43 failed", "order 33 failed"}
		if strings.Join(bodies, "|") != strings.Join(want, "|") {
			t.Errorf("rows %q, want %q", bodies, want)
		}
		u, _ := url.Parse(loc)
		since, err1 := time.Parse(time.RFC3339Nano, u.Query().Get("since-time"))
		until, err2 := time.Parse(time.RFC3339Nano, u.Query().Get("until"))
		if err1 != nil || err2 != nil || until.Sub(since) > 40*time.Minute || u.Query().Get("since") != "" {
			t.Errorf("the range after the drag is %s (%v, %v), want about the last half hour of the two", loc, err1, err2)
		}
	})

	t.Run("context", func(t *testing.T) {
		run(t, ctx, "context",
			js(`[...document.querySelectorAll("#rows tr.rec")].find(tr => tr.textContent.includes("order 33 failed")).querySelector("button.ctx").click()`),
			waitFor(`!document.getElementById("context").hidden && document.querySelectorAll("#ctx-rows tr.rec").length === 41`),
		)
		bodies := eval[[]string](t, ctx, rowsJS("ctx-rows"))
		marked := eval[string](t, ctx, `document.querySelector("#ctx-rows tr.mark[aria-current=true] td.body").textContent`)
		if len(bodies) != 41 || bodies[0] != "order 13 failed" || bodies[40] != "order 53 failed" || marked != "order 33 failed" {
			t.Fatalf("context %q marked %q; want orders 13 to 53, 33 marked", bodies, marked)
		}
		for i, b := range bodies {
			if !strings.HasPrefix(b, fmt.Sprintf("order %02d ", 13+i)) {
				t.Errorf("context row %d is %q: out of order", i, b)
			}
		}
		screenshot(t, ctx, "console-context")
		run(t, ctx, "more above",
			chromedp.Click(chromedp.CSS(`#ctx-above`)),
			waitFor(`document.querySelectorAll("#ctx-rows tr.rec").length === 54`),
		)
		bodies = eval[[]string](t, ctx, rowsJS("ctx-rows"))
		if bodies[0] != "order 00 ok" || bodies[53] != "order 53 failed" {
			t.Errorf("more above: %q … %q, want order 00 … order 53", bodies[0], bodies[len(bodies)-1])
		}
		run(t, ctx, "close", chromedp.Click(chromedp.CSS(`#ctx-close`)), waitFor(`document.getElementById("context").hidden`))
	})

	t.Run("live tail", func(t *testing.T) {
		run(t, ctx, "live on",
			chromedp.Click(chromedp.CSS(`#live`)),
			waitFor(`document.getElementById("status").textContent.startsWith("live: waiting")`),
		)
		f, err := os.OpenFile(filepath.Join(dir, "app.log"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, `{"ts":%q,"level":"error","msg":"order 99 failed, live"}`+"\n", time.Now().UTC().Format(time.RFC3339))
		f.Close()
		written := time.Now()
		run(t, ctx, "the line to appear",
			waitFor(`(document.querySelector("#rows tr.rec td.body") || {}).textContent === "order 99 failed, live"`),
		)
		t.Logf("the live line appeared %s after it was written", time.Since(written).Round(10*time.Millisecond))
		screenshot(t, ctx, "console-live")
		run(t, ctx, "live off", chromedp.Click(chromedp.CSS(`#live`)))
	})

	// The live tail subtests each follow records of their own word (the
	// query's text), written to app.log as the agent reads it.
	appLog := filepath.Join(dir, "app.log")

	t.Run("live tail pause", func(t *testing.T) {
		liveOn(t, ctx, base, appLog, "pause-test")
		run(t, ctx, "pause", chromedp.Click(chromedp.CSS(`#pause`)), waitFor(`document.getElementById("pause").textContent === "Resume"`))
		appendLines(t, appLog, "pause-test", 1, 5)
		waitPage(t, ctx, "the 5 records to wait", `document.getElementById("status").textContent === "live: paused, 5 waiting"`)
		if bodies := eval[[]string](t, ctx, rowsJS("rows")); strings.Join(bodies, "|") != "pause-test 000" {
			t.Fatalf("paused, with 5 records waiting, the rows are %q; want only pause-test 000", bodies)
		}
		run(t, ctx, "resume", chromedp.Click(chromedp.CSS(`#pause`)))
		waitPage(t, ctx, "the waiting records to show", `document.querySelectorAll("#rows tr.rec").length === 6`)
		bodies := eval[[]string](t, ctx, rowsJS("rows"))
		if want := seqBodies("pause-test", 5, 0); strings.Join(bodies, "|") != strings.Join(want, "|") {
			t.Errorf("resumed, the rows are %q; want %q, newest first", bodies, want)
		}
		if b, s := eval[string](t, ctx, `document.getElementById("pause").textContent`), eval[string](t, ctx, `document.getElementById("status").textContent`); b != "Pause" || s != "live: 6 row(s)" {
			t.Errorf("resumed, the button says %q and the status %q; want Pause, live: 6 row(s)", b, s)
		}
		// Resumed, a new record shows at once again.
		appendLines(t, appLog, "pause-test", 6, 6)
		waitPage(t, ctx, "a record after resume to show", `(document.querySelector("#rows tr.rec td.body") || {}).textContent === "pause-test 006"`)
		run(t, ctx, "live off", chromedp.Click(chromedp.CSS(`#live`)))
	})

	t.Run("live tail keeps 500 rows", func(t *testing.T) {
		liveOn(t, ctx, base, appLog, "cap-test")
		appendLines(t, appLog, "cap-test", 1, 600)
		waitPage(t, ctx, "the newest of 601 records on top", `(document.querySelector("#rows tr.rec td.body") || {}).textContent === "cap-test 600"`)
		bodies := eval[[]string](t, ctx, rowsJS("rows"))
		if want := seqBodies("cap-test", 600, 101); strings.Join(bodies, "|") != strings.Join(want, "|") {
			t.Errorf("after 601 live records the page shows %d rows, %s; want the newest 500 (600 to 101), newest first", len(bodies), ends(bodies))
		}
		if s := eval[string](t, ctx, `document.getElementById("status").textContent`); s != "live: 500 row(s)" {
			t.Errorf("status %q, want live: 500 row(s)", s)
		}
		run(t, ctx, "live off", chromedp.Click(chromedp.CSS(`#live`)))
	})

	t.Run("live tail pause keeps 500 waiting", func(t *testing.T) {
		liveOn(t, ctx, base, appLog, "held-test")
		run(t, ctx, "pause", chromedp.Click(chromedp.CSS(`#pause`)), waitFor(`document.getElementById("pause").textContent === "Resume"`))
		appendLines(t, appLog, "held-test", 1, 600)
		// 600 come while paused: the newest 500 wait, and the page says
		// the 100 older ones are dropped.
		waitPage(t, ctx, "600 records to come while paused", `document.getElementById("status").textContent === "live: paused, 500 waiting, 100 older dropped"`)
		if bodies := eval[[]string](t, ctx, rowsJS("rows")); strings.Join(bodies, "|") != "held-test 000" {
			t.Fatalf("paused, the rows are %s; want only held-test 000", ends(bodies))
		}
		run(t, ctx, "resume", chromedp.Click(chromedp.CSS(`#pause`)))
		waitPage(t, ctx, "the waiting records to show", `(document.querySelector("#rows tr.rec td.body") || {}).textContent === "held-test 600"`)
		bodies := eval[[]string](t, ctx, rowsJS("rows"))
		if want := seqBodies("held-test", 600, 101); strings.Join(bodies, "|") != strings.Join(want, "|") {
			t.Errorf("resumed, the page shows %d rows, %s; want the 500 that waited (600 to 101), newest first", len(bodies), ends(bodies))
		}
		// Below them, where the dropped records would be, a row says so.
		const gap = "100 record(s) not shown here: more than 500 came while paused (search to see them)"
		if others := eval[[]string](t, ctx, `[...document.querySelectorAll("#rows tr:not(.rec)")].map(tr => tr.textContent)`); len(others) != 1 || others[0] != gap {
			t.Errorf("resumed, the rows besides the records are %q; want one saying %q", others, gap)
		} else if last := eval[string](t, ctx, `document.querySelector("#rows").lastElementChild.textContent`); last != gap {
			t.Errorf("the row saying %q is not below held-test 101 (the last row is %q)", gap, last)
		}
		run(t, ctx, "live off", chromedp.Click(chromedp.CSS(`#live`)))
	})

	t.Run("keyboard on a narrow window", func(t *testing.T) {
		run(t, ctx, "keyboard",
			chromedp.EmulateViewport(420, 800),
			chromedp.Navigate(base+"/?since=2h"),
			waitFor(`document.querySelectorAll("#rows tr.rec").length >= 60`),
			chromedp.Focus(chromedp.CSS(`input[name=grep]`)),
			chromedp.KeyEvent("failed"+kb.Enter),
			waitFor(`document.querySelectorAll("#rows tr.rec").length === 7`),
			chromedp.Focus(chromedp.CSS(`#rows tr.rec`)),
			chromedp.KeyEvent(kb.Enter),
			waitFor(`document.querySelectorAll("#rows tr.detail").length === 1`),
		)
		overflow := eval[float64](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`)
		details := eval[string](t, ctx, `document.querySelector("#rows tr.detail").textContent`)
		run(t, ctx, "reset", chromedp.ResetViewport())
		if overflow > 0 {
			t.Errorf("at 420 px the page is %.0f px wider than the window", overflow)
		}
		if !strings.Contains(details, "k8s.pod.name") {
			t.Errorf("Enter on a row shows %q, want its keys", details)
		}
	})

	t.Run("load more", func(t *testing.T) {
		var more strings.Builder
		for i := range 130 {
			fmt.Fprintf(&more, `{"level":"info","msg":"bulk %03d"}`+"\n", i)
		}
		if err := os.WriteFile(filepath.Join(dir, "more.log"), []byte(more.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		// The page is opened once the hub holds all 130: a first page
		// taken while the agent was still shipping them would leave the
		// last ones out of what "load more" pages through.
		poll.Until(t, 30*time.Second, "the hub to hold the 130 records", func() bool {
			resp, err := http.Get(base + "/api/v1/query?since=2h&grep=bulk&count=true")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var a struct{ Count int }
			json.NewDecoder(resp.Body).Decode(&a)
			return a.Count == 130
		})
		run(t, ctx, "load more",
			chromedp.Navigate(base+"/?since=2h&grep=bulk"),
			waitFor(`document.querySelectorAll("#rows tr.rec").length === 100`),
			waitFor(`!document.getElementById("more").hidden`),
			chromedp.Click(chromedp.CSS(`#more`)),
			waitFor(`document.querySelectorAll("#rows tr.rec").length === 130 && document.getElementById("more").hidden`),
		)
		bodies := eval[[]string](t, ctx, rowsJS("rows"))
		for i, b := range bodies {
			if want := fmt.Sprintf("bulk %03d", 129-i); b != want {
				t.Fatalf("row %d is %q, want %q: not each once, newest first", i, b, want)
			}
		}
	})

	t.Run("injection", func(t *testing.T) {
		q := url.Values{"since": {"2h"}, "grep": {"pwned"}, "where": {`k8s.pod.name!=</textarea><script>window.pwned=9</script>`}}
		run(t, ctx, "injection",
			chromedp.Navigate(base+"/?"+q.Encode()),
			waitFor(`document.querySelectorAll("#rows tr.rec").length === 5`),
			js(`document.querySelectorAll("#rows tr.rec").forEach(tr => tr.click())`),
			waitFor(`document.querySelectorAll("#rows tr.detail").length === 5`),
		)
		if fcp := eval[float64](t, ctx, `(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime`); fcp >= 0 {
			t.Logf("first contentful paint %.0f ms after navigation (a browser that loaded the page before)", fcp)
		}
		bodies := eval[[]string](t, ctx, rowsJS("rows"))
		pwned := eval[string](t, ctx, `String(window.pwned)`)
		elements := eval[string](t, ctx, `String(document.querySelectorAll("#rows script, #rows img, #rows svg, #rows a, #rows iframe, form script, form img").length)`)
		details := eval[string](t, ctx, `document.querySelector("#rows tr.detail").textContent`)
		for _, p := range payloads {
			found := false
			for _, b := range bodies {
				found = found || b == p
			}
			if !found {
				t.Errorf("payload %q is not shown as its text; rows %q", p, bodies)
			}
		}
		if pwned != "undefined" || elements != "0" {
			t.Errorf("window.pwned = %s, %s elements made from records: a payload ran", pwned, elements)
		}
		for _, v := range []string{"javascript:window.pwned=6", `<img src=x onerror="window.pwned=7">`, `</textarea><script>window.pwned=8</script>`} {
			if !strings.Contains(details, v) {
				t.Errorf("the record's keys %q do not show %q as text", details, v)
			}
		}
	})

	t.Run("dark and light follow the system", func(t *testing.T) {
		// What style.css sets: --bg and --fg in :root, then again in its
		// prefers-color-scheme: dark block.
		resp, err := http.Get(base + "/style.css")
		if err != nil {
			t.Fatal(err)
		}
		css, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bg, fg := cssColours(t, css, "--bg"), cssColours(t, css, "--fg")
		run(t, ctx, "open the page", chromedp.Navigate(base+"/?since=2h"), waitFor(`document.querySelectorAll("#rows tr.rec").length > 0`))
		defer chromedp.Do(ctx, colourScheme(""))
		seen := map[string][4]string{}
		for i, scheme := range []string{"light", "dark"} {
			run(t, ctx, scheme, colourScheme(scheme), waitFor(fmt.Sprintf(`matchMedia("(prefers-color-scheme: %s)").matches`, scheme)))
			got := eval[[]string](t, ctx, `(() => {
				const b = getComputedStyle(document.body), i = getComputedStyle(document.querySelector("input[name=grep]"));
				return [b.backgroundColor, b.color, i.backgroundColor, i.color];
			})()`)
			seen[scheme] = [4]string(got)
			if want := []string{bg[i], fg[i], bg[i], fg[i]}; strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s: the page's background and text, and a text box's, are %q; want %q (style.css)", scheme, got, want)
			}
		}
		if seen["light"] == seen["dark"] {
			t.Errorf("light and dark look the same: %q", seen["light"])
		}
		if l, d := luminance(t, bg[0]), luminance(t, bg[1]); !(d < l && luminance(t, fg[1]) > d && luminance(t, fg[0]) < l) {
			t.Errorf("style.css: light is %s on %s, dark %s on %s: want dark text on a light background and light text on a dark one", fg[0], bg[0], fg[1], bg[1])
		}
	})
}
