package cli_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a long-running auditledger process (serve or monitor).
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	code int

	mu     sync.Mutex
	stderr bytes.Buffer
	lines  chan string
}

// startProc runs the binary with args in a clean environment, with the
// admin token in AUDITLEDGER_ADMIN_TOKEN, and collects its stderr. The
// process is killed at the end of the test if it is still running.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{}), lines: make(chan string, 1024)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(cleanEnv(), "AUDITLEDGER_ADMIN_TOKEN="+adminToken)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, pipe)
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitLine waits for a stderr line matching re and returns its submatches.
func (p *proc) waitLine(re *regexp.Regexp) []string {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-p.done:
			p.t.Fatalf("process exited %d before logging %s:\n%s", p.code, re, p.log())
		case <-timeout:
			p.t.Fatalf("no line matching %s within 30s:\n%s", re, p.log())
		}
	}
}

// term sends SIGTERM and returns the exit code.
func (p *proc) term() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	return p.wait()
}

// wait waits for the process to exit and returns its code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("process did not exit within 60s:\n%s", p.log())
	}
	return p.code
}

// server is a running `auditledger serve`: its process and its URL.
type server struct {
	*proc
	url string
}

var listenRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer runs `auditledger serve --addr 127.0.0.1:0` on dir with the
// admin token in AUDITLEDGER_ADMIN_TOKEN, and waits until it listens (the
// address comes from its "listening" log line) and answers /healthz.
func startServer(t *testing.T, dir string) *server {
	t.Helper()
	s, _ := serveWith(t, dir)
	if a := strings.TrimPrefix(s.url, "http://"); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("server listens on %s, want 127.0.0.1", a)
	}
	return s
}

// serveWith starts `serve` on dir with extra flags (and --addr
// 127.0.0.1:0 unless they give one) and waits until it answers /healthz.
func serveWith(t *testing.T, dir string, extra ...string) (*server, *proc) {
	t.Helper()
	args := []string{"serve", "--data", dir, "--checkpoint-interval", "25ms"}
	if !slices.Contains(extra, "--addr") {
		args = append(args, "--addr", "127.0.0.1:0")
	}
	args = append(args, extra...)
	p := startProc(t, args...)
	m := p.waitLine(listenRe)
	s := &server{proc: p, url: "http://" + m[1]}
	for i := 0; ; i++ {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, p
			}
		}
		if i == 500 {
			t.Fatalf("server never became healthy: %v\n%s", err, p.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
