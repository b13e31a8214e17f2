package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadyURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8080":            "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":     "http://127.0.0.1:8080/readyz",
		"[::]:8080":        "http://[::1]:8080/readyz",
		"127.0.0.1:9000":   "http://127.0.0.1:9000/readyz",
		"10.1.2.3:8080":    "http://10.1.2.3:8080/readyz",
		"localhost:8080":   "http://localhost:8080/readyz",
		"[fd00::1]:8080":   "http://[fd00::1]:8080/readyz",
		"qualdial.local:1": "http://qualdial.local:1/readyz",
	} {
		if got, err := readyURL(addr); err != nil || got != want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for _, addr := range []string{"8080", "127.0.0.1:0", "127.0.0.1:", ""} {
		if got, err := readyURL(addr); err == nil {
			t.Errorf("readyURL(%q) = %q, want an error", addr, got)
		}
	}
}

// TestHealthcheck: exit 0 on 200 only; otherwise exit 1 with one line that
// says why (the status and the answer, a refused connection, no answer in
// time). The address comes from QUALDIAL_HTTP_ADDR as serve's does, and an
// address on every interface is asked on loopback.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	status := make(chan int, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.Error(w, "wrong request "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		code := <-status
		if code == 0 { // hang until the test ends
			<-release
			return
		}
		w.WriteHeader(code)
		w.Write([]byte("{\"status\":\"unavailable\",\n\"database\":\"unreachable\"}\n" + strings.Repeat("x", 2000)))
	}))
	defer srv.Close()
	defer close(release)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	status <- http.StatusOK
	code, out, errOut := runCLI(t, map[string]string{"QUALDIAL_HTTP_ADDR": ":" + port}, "healthcheck")
	if code != 0 || out != "ready: http://127.0.0.1:"+port+"/readyz\n" || errOut != "" {
		t.Fatalf("ready: exit %d %q %q", code, out, errOut)
	}

	status <- http.StatusServiceUnavailable
	code, out, errOut = runCLI(t, nil, "healthcheck", "--http", "0.0.0.0:"+port)
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "not ready: GET http://127.0.0.1:"+port+"/readyz: 503 Service Unavailable {\"status\":\"unavailable\", \"database\":\"unreachable\"} xxx") ||
		len(errOut) > 700 {
		t.Fatalf("503: exit %d %q %q", code, out, errOut)
	}

	status <- 0
	code, _, errOut = runCLI(t, nil, "healthcheck", "--http", "127.0.0.1:"+port, "--timeout", "200ms")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "no answer in time (--timeout)") {
		t.Fatalf("hung server: exit %d %q", code, errOut)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	code, _, errOut = runCLI(t, map[string]string{"QUALDIAL_HTTP_ADDR": closed}, "healthcheck")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "not ready: GET http://"+closed+"/readyz:") ||
		!strings.Contains(errOut, "connection refused") {
		t.Fatalf("nothing listening: exit %d %q", code, errOut)
	}

	for _, args := range [][]string{{"healthcheck", "--http", "8080"}, {"healthcheck", "--timeout", "0s"}, {"healthcheck", "--http", ":0"}} {
		if code, _, errOut := runCLI(t, nil, args...); code != 1 || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d %q", args, code, errOut)
		}
	}
}
