package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer/softphone"
)

type callJSON struct {
	Disposition string   `json:"disposition"`
	SIPCode     int      `json:"sip_code"`
	KeysHeard   []string `json:"keys_heard"`
	ScriptID    string   `json:"script_id"`
	Outcome     string   `json:"outcome"`
	Class       string   `json:"class"`
	Total       int      `json:"total"`
}

// TestCallAgainstSoftphone places a real call with the shipped BANT script
// and its pre-rendered speech to a softphone persona that barges in.
func TestCallAgainstSoftphone(t *testing.T) {
	t.Parallel()
	p, err := softphone.Start(softphone.Config{Personas: map[string]softphone.Persona{
		"hot":  {Keys: "~1,~1,~1,~1,~120#,~1"},
		"busy": {Answer: "reject", Code: 486},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	code, out, errOut := runCLI(t, nil, "call", "--to", p.URI("hot"), "--script", "bant-en", "--caller-id", "+15550100", "--json")
	var res callJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if res.Disposition != "answered" || res.SIPCode != 200 || res.Class != "sql" || res.ScriptID != "bant-en" ||
		!slices.Equal(res.KeysHeard, []string{"1", "1", "1", "1", "120#", "1"}) {
		t.Fatalf("report %+v", res)
	}

	code, out, _ = runCLI(t, nil, "call", "--to", p.URI("busy"), "--script", "bant-en", "--caller-id", "+15550100")
	if code != 0 || !strings.Contains(out, "disposition  busy (SIP 486 Busy Here)") {
		t.Fatalf("busy: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, nil, "call", "--to", p.URI("hot"), "--script", "bant-en", "--caller-id", "+1", "--ring-timeout", "5s"); code != 1 || !strings.Contains(errOut, "at least 15s") {
		t.Fatalf("short ring: exit %d %s", code, errOut)
	}
}

// TestCallAgainstSipp is the acceptance check of the SIP driver: qualdial
// call against sipp as the lead phone prints the keys the scenario pressed
// and the right class.
func TestCallAgainstSipp(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is required in CI (Debian package sip-tester)")
		}
		t.Skip("sipp not installed")
	}
	free := func() int {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	port := free()
	sf, _ := filepath.Abs("../../dialer/sip/testdata/lead-keys.xml")
	sipp := exec.Command(bin, "-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mi", "127.0.0.1",
		"-mp", strconv.Itoa(free()), "-cp", strconv.Itoa(free()), "-m", "1", "-nostdin", "-timeout", "40s")
	sipp.Dir = t.TempDir()
	var sippOut bytes.Buffer
	sipp.Stdout, sipp.Stderr = &sippOut, &sippOut
	if err := sipp.Start(); err != nil {
		t.Fatal(err)
	}
	defer sipp.Process.Kill()
	time.Sleep(300 * time.Millisecond)

	code, out, errOut := runCLI(t, nil, "call", "--to", "sip:lead@127.0.0.1:"+strconv.Itoa(port),
		"--script", "../../dialer/sip/testdata/sipp-lead.yaml", "--caller-id", "+15550100", "--json")
	var res callJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if !slices.Equal(res.KeysHeard, []string{"1", "2", "120#"}) || res.Class != "sql" || res.Outcome != "completed" {
		t.Fatalf("report %+v", res)
	}
	if err := sipp.Wait(); err != nil {
		t.Fatalf("sipp: %v\n%s", err, sippOut.String())
	}
}
