package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// maxHealthBody bounds how much of a /readyz answer the health check reads
// (and quotes when it is not 200).
const maxHealthBody = 512

func (e *env) healthcheckCommand() *cobra.Command {
	var (
		addr    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local serve is ready (for container health checks)",
		Long: `Ask the qualdial serve on this machine whether it is ready: GET /readyz on the address
serve listens on (--http, env QUALDIAL_HTTP_ADDR; an address on every interface, like
:8080 or 0.0.0.0:8080, is asked on loopback). Exit 0 when it answers 200; else print one
line saying why and exit 1. For health checks of images without a shell:
HEALTHCHECK CMD ["qualdial", "healthcheck"].`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s must be positive", timeout)
			}
			target, err := readyURL(addr)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := checkReady(ctx, target); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "ready: %s\n", target)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Var(newHostPort(&addr, "127.0.0.1:8080", "127.0.0.1:8080 or :8080"), "http", "the HTTP listen address of serve")
	e.bindEnv(fl, "http", "QUALDIAL_HTTP_ADDR")
	fl.DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer (serve's own database check takes up to 2s)")
	return cmd
}

// readyURL is the /readyz URL of a serve listening on addr: a listen
// address on every interface (":8080", "0.0.0.0:8080", "[::]:8080") is
// reached on loopback.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("--http %q (env QUALDIAL_HTTP_ADDR) must be host:port with a fixed port, like 127.0.0.1:8080 or :8080", addr)
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/readyz"}
	return u.String(), nil
}

// checkReady GETs target and says, in one line, why it is not ready.
func checkReady(ctx context.Context, target string) error {
	client := &http.Client{
		// Loopback, never through a proxy; a redirect is not an answer.
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.New("no answer in time (--timeout)")
		}
		return fmt.Errorf("not ready: GET %s: %s", target, oneLine(err.Error()))
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxHealthBody))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: GET %s: %s %s", target, res.Status, oneLine(string(body)))
	}
	return nil
}

// oneLine folds runs of white space (new lines included) into one space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
