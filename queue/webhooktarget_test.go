package queue

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualdial/qualdial/internal/fixture"
)

var loopbackNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func TestWebhookPolicyCheckAddr(t *testing.T) {
	t.Parallel()
	open := WebhookPolicy{}
	onPrem := WebhookPolicy{AllowNets: append([]netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fd00::/8")}, loopbackNets...)}
	for _, tc := range []struct {
		policy WebhookPolicy
		addr   string
		want   string // "" = allowed, else a fragment of the reason
	}{
		{open, "8.8.8.8", ""},
		{open, "2606:4700:4700::1111", ""},
		{open, "64:ff9b::808:808", ""}, // NAT64 of a public address
		{open, "127.0.0.1", "loopback"},
		{open, "127.9.9.9", "loopback"},
		{open, "::1", "loopback"},
		{open, "::ffff:127.0.0.1", "127.0.0.1 is loopback"}, // IPv4-mapped
		{open, "::ffff:10.0.0.1", "private"},
		{open, "64:ff9b::7f00:1", "embeds 127.0.0.1 is loopback"}, // NAT64 of loopback
		{open, "::7f00:1", "IPv4-compatible"},
		{open, "10.1.2.3", "private"},
		{open, "172.16.0.1", "private"},
		{open, "172.31.255.255", "private"},
		{open, "192.168.1.1", "private"},
		{open, "fd12:3456::1", "private"},
		{open, "169.254.169.254", "metadata"},
		{open, "fd00:ec2::254", "metadata"},
		{open, "168.63.129.16", "metadata"},
		{open, "100.100.100.200", "metadata"},
		{open, "169.254.1.1", "link-local"},
		{open, "fe80::1", "link-local"},
		{open, "100.64.0.1", "carrier-grade NAT"},
		{open, "100.127.255.254", "carrier-grade NAT"},
		{open, "224.0.0.1", "multicast"},
		{open, "ff02::1", "multicast"},
		{open, "0.0.0.0", "unspecified"},
		{open, "0.1.2.3", "this network"},
		{open, "::", "unspecified"},
		{open, "255.255.255.255", "broadcast"},
		{open, "240.0.0.1", "reserved"},
		{open, "fec0::1", "site-local"},
		{onPrem, "10.20.3.4", ""},
		{onPrem, "10.21.3.4", "private"},
		{onPrem, "127.0.0.1", ""},
		{onPrem, "::ffff:127.0.0.1", ""},
		{onPrem, "::1", ""},
		{onPrem, "169.254.1.1", ""},
		{onPrem, "169.254.169.254", "metadata"}, // never, whatever is allowed
		{onPrem, "fd00:ec2::254", "metadata"},
	} {
		err := tc.policy.CheckAddr(netip.MustParseAddr(tc.addr))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s (allow %v): refused: %v", tc.addr, tc.policy.AllowNets, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s (allow %v): got %v, want an error with %q", tc.addr, tc.policy.AllowNets, err, tc.want)
		}
	}
}

func TestWebhookPolicyCheckURL(t *testing.T) {
	t.Parallel()
	strict := WebhookPolicy{}
	lab := WebhookPolicy{AllowHTTP: true, AllowNets: loopbackNets}
	for _, tc := range []struct {
		policy WebhookPolicy
		url    string
		want   string
	}{
		{strict, "https://crm.example/hooks?token=abc", ""},
		{strict, "https://crm.example:8443/hooks", ""},
		{strict, "https://8.8.8.8/hooks", ""},
		{strict, "http://crm.example/hooks", "use https"},
		{strict, "ftp://crm.example/hooks", "use an https:// URL"},
		{strict, "crm.example/hooks", "use an https:// URL"},
		{strict, "https:///hooks", "with a host"},
		{strict, "https://user:s3cr3t@crm.example/hooks", "must not contain credentials"},
		{strict, "https://user@crm.example/hooks", "must not contain credentials"},
		{strict, "https://crm.example/hooks#frag", "fragment"},
		{strict, "https://crm.example/hooks#", "fragment"},
		{strict, "https://crm.example/" + strings.Repeat("a", MaxWebhookURL), "the limit is 2048"},
		{strict, "https://crm.example/x?a=%zz", "query string is not valid"},
		{strict, "https://127.0.0.1/hooks", "loopback"},
		{strict, "https://[::1]/hooks", "loopback"},
		{strict, "https://[::ffff:7f00:1]/hooks", "loopback"},
		{strict, "https://10.0.0.5/hooks", "private"},
		{strict, "https://169.254.169.254/latest/meta-data/", "metadata"},
		{strict, "https://metadata.google.internal/computeMetadata/v1/", "metadata service"},
		{strict, "https://METADATA.Google.Internal./computeMetadata/v1/", "metadata service"},
		{strict, "https://localhost/hooks", "loopback"},
		{strict, "https://crm.localhost/hooks", "loopback"},
		{strict, "https://2130706433/hooks", "not a valid host name"},
		{strict, "https://0x7f.1/hooks", "not a valid host name"},
		{strict, "https://127.1/hooks", "not a valid host name"},
		{strict, "https://[fe80::1%25eth0]/hooks", "zones"},
		{strict, "https://crm.example:0/hooks", "port"},
		{lab, "http://127.0.0.1:8080/hooks", ""},
		{lab, "http://localhost:8080/hooks", ""},
		{lab, "http://10.0.0.5/hooks", "private"},
		{lab, "http://169.254.169.254/", "metadata"},
	} {
		_, err := tc.policy.CheckURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%.80s: refused: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%.80s: got %v, want an error with %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error repeats the credentials: %v", err)
		}
	}
	// A URL that does not parse is not repeated either.
	if _, err := strict.CheckURL("https://user:s3cr3t@crm.example/%zz"); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad URL: %v", err)
	}
}

// countingServer is an HTTP server that counts the connections it accepts.

// TestWebhookClientChecksEveryConnection: the delivery client refuses
// loopback however it is spelt or resolved, before connecting, and
// connects once the network is allowed.
func TestWebhookClientChecksEveryConnection(t *testing.T) {
	t.Parallel()
	srv, accepts := fixture.CountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	client := WebhookPolicy{AllowHTTP: true}.webhookClient(5 * time.Second)
	for _, u := range []string{"http://127.0.0.1:" + port + "/", "http://localhost:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		res, err := client.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			res.Body.Close()
			t.Errorf("%s: delivered (%d)", u, res.StatusCode)
			continue
		}
		var te *WebhookTargetError
		if !errors.As(err, &te) || !strings.Contains(te.Reason, "loopback") {
			t.Errorf("%s: %v, want a loopback refusal", u, err)
		}
	}
	if n := accepts.Load(); n != 0 {
		t.Fatalf("the listener accepted %d connections", n)
	}
	allowed := WebhookPolicy{AllowHTTP: true, AllowNets: loopbackNets}.webhookClient(5 * time.Second)
	res, err := allowed.Post("http://localhost:"+port+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || accepts.Load() != 1 {
		t.Fatalf("status %d, %d connections", res.StatusCode, accepts.Load())
	}
}

// TestWebhookClientIgnoresProxyAndRedirects: no proxy is configured (a
// proxy would connect on our behalf, unchecked; net/http never proxies
// loopback, so this is checked on the transport rather than with a proxy
// listener), and a redirect is returned, not followed, so the payload never
// reaches the Location.
func TestWebhookClientIgnoresProxyAndRedirects(t *testing.T) {
	t.Parallel()
	other, otherAccepts := fixture.CountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	var got atomic.Int64
	crm, _ := fixture.CountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		http.Redirect(w, r, other.URL+"/stolen", http.StatusFound)
	}))
	client := WebhookPolicy{AllowHTTP: true, AllowNets: loopbackNets}.webhookClient(5 * time.Second)
	if tr, ok := client.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Fatalf("transport %T uses a proxy", client.Transport)
	}
	res, err := client.Post(crm.URL+"/hooks", "application/json", strings.NewReader(`{"lead": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || got.Load() != 1 {
		t.Fatalf("status %d, crm hits %d", res.StatusCode, got.Load())
	}
	if n := otherAccepts.Load(); n != 0 {
		t.Fatalf("the redirect target accepted %d connections", n)
	}
}

func TestCanonicalRequest(t *testing.T) {
	t.Parallel()
	c, err := CanonicalRequest("1700000000", "post", "/v1/leads", "campaign=spring+demo&b=2&a=1&a=0&x=%2F", []byte(`{"phone":"+1"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "1700000000\nPOST\n/v1/leads\na=1&a=0&b=2&campaign=spring+demo&x=%2F\n{\"phone\":\"+1\"}"
	if string(c) != want {
		t.Fatalf("canonical\n%q\nwant\n%q", c, want)
	}
	// Query order and spelling do not matter; values of one name keep
	// their order; path, method and query change the signature.
	sig := func(method, path, q string) string {
		s, err := SignV2("whsec_test_secret_value", "1700000000", method, path, q, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := sig("POST", "/v1/leads", "a=1&b=2")
	if !strings.HasPrefix(base, "v2=") || len(base) != 3+64 {
		t.Fatalf("signature %q", base)
	}
	if sig("POST", "/v1/leads", "b=2&a=%31") != base {
		t.Error("reordered, re-encoded query changed the signature")
	}
	for _, other := range []string{sig("PUT", "/v1/leads", "a=1&b=2"), sig("POST", "/v1/dnc", "a=1&b=2"), sig("POST", "/v1/leads", "a=1&b=3"),
		sig("POST", "/v1/leads", ""), sig("POST", "/v1/leads", "b=2&a=1&a=2")} {
		if other == base {
			t.Error("a different request has the same signature")
		}
	}
	if sig("POST", "/v1/leads", "a=1&a=2") == sig("POST", "/v1/leads", "a=2&a=1") {
		t.Error("the order of one name's values is not signed")
	}
	if _, err := SignV2("s", "1", "POST", "/", "a=%zz", nil); err == nil {
		t.Error("an invalid query was signed")
	}
}
