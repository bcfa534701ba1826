package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// client talks to a server's API.
type client struct {
	base  string
	token string
	http  *http.Client
}

func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "url", Value: "http://" + DefaultAddr, EnvVars: envs("URL"), Usage: "server base URL"},
		&cli.StringFlag{Name: "token", EnvVars: envs("TOKEN"), Usage: "API token (Authorization: Bearer)"},
		&cli.StringFlag{Name: "log", Value: "default", EnvVars: envs("LOG"), Usage: "log id"},
	}
}

func newClient(c *cli.Context) *client {
	return &client{base: strings.TrimRight(c.String("url"), "/"), token: c.String("token"), http: &http.Client{Timeout: 2 * time.Minute}}
}

// apiError is a server's error answer.
type apiError struct {
	Status int
	Code   string `json:"code"`
	Msg    string `json:"message"`
	Field  string `json:"field"`
	Pos    *int   `json:"position"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Msg)
	if e.Field != "" {
		s += " (field " + e.Field
		if e.Pos != nil {
			s += fmt.Sprintf(", position %d", *e.Pos)
		}
		s += ")"
	}
	return s
}

// do sends a request and returns the body of a 2xx answer.
func (cl *client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("couldn't reach the server: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
			return nil, fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		e.Error.Status = resp.StatusCode
		return nil, &e.Error
	}
	return b, nil
}

func (cl *client) getJSON(ctx context.Context, path string, v any) error {
	b, err := cl.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// streamTo copies a GET answer to a file (or stdout) as it arrives, with a
// byte counter on a terminal.
func streamTo(c *cli.Context, path, out string) error {
	cl := newClient(c)
	req, err := http.NewRequestWithContext(c.Context, "GET", cl.base+path, nil)
	if err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	hc := &http.Client{} // no overall timeout: an export may be long
	resp, err := hc.Do(req)
	if err != nil {
		return cli.Exit("couldn't reach the server: "+err.Error(), ExitUsage)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return cli.Exit(fmt.Sprintf("server answered %s: %s", resp.Status, bytes.TrimSpace(b)), ExitUsage)
	}
	var w io.Writer = c.App.Writer
	if out != "" && out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
		defer f.Close()
		w = f
	}
	var src io.Reader = resp.Body
	if isTerminal(c.App.ErrWriter) && out != "" && out != "-" {
		bar := progressbar.DefaultBytes(-1, "export")
		src = io.TeeReader(resp.Body, bar)
		defer bar.Finish()
	}
	if _, err := io.Copy(w, src); err != nil {
		return cli.Exit("export cut short: "+err.Error(), ExitUsage)
	}
	return nil
}
