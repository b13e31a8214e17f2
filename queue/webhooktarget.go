package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// MaxWebhookURL is the longest webhook URL accepted, in bytes.
const MaxWebhookURL = 2048

// WebhookPolicy decides which URLs and addresses CRM webhooks may reach. The
// zero value is the safe default: https only, public unicast addresses only.
// The API checks URLs with it when a CRM subscribes; the webhook worker
// checks every connection's address with it after DNS, so a name that
// resolves (or later re-resolves) to an internal address is refused too.
type WebhookPolicy struct {
	// AllowHTTP permits plain http:// URLs (an on-prem CRM without TLS,
	// tests). Default false: https only.
	AllowHTTP bool
	// AllowNets are networks that may be reached although they are not
	// public: loopback, RFC 1918, ULA, link-local, CGNAT… e.g. an on-prem
	// CRM at 10.20.0.0/16, or 127.0.0.0/8 in tests. Cloud metadata
	// addresses stay refused whatever is listed.
	AllowNets []netip.Prefix
}

// WebhookTargetError says why a webhook URL or address is refused. Its
// message never contains the URL (which may hold credentials or tokens).
type WebhookTargetError struct {
	Reason string
}

func (e *WebhookTargetError) Error() string { return e.Reason }

func refused(format string, args ...any) error {
	return &WebhookTargetError{Reason: fmt.Sprintf(format, args...)}
}

// metadataHosts are the names of cloud instance metadata services.
var metadataHosts = map[string]bool{
	"metadata":                     true,
	"metadata.google.internal":     true,
	"metadata.goog":                true,
	"metadata.azure.com":           true,
	"instance-data":                true,
	"instance-data.ec2.internal":   true,
	"metadata.tencentyun.com":      true,
	"metadata.platformequinix.com": true,
}

// metadataAddrs are cloud metadata and platform endpoints. They are refused
// even when a listed network contains them.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OCI, DigitalOcean…
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	netip.MustParseAddr("169.254.169.253"), // AWS DNS
	netip.MustParseAddr("169.254.169.123"), // AWS time
	netip.MustParseAddr("168.63.129.16"),   // Azure wire server (a public-looking address)
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("fd00:ec2::253"),   // AWS DNS over IPv6
	netip.MustParseAddr("fd00:ec2::23"),    // AWS ECS over IPv6
}

// specialNets are non-public ranges beside those netip.Addr classifies.
var specialNets = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (0.0.0.0/8)`},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (192.0.2.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (198.51.100.0/24)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (203.0.113.0/24)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (240.0.0.0/4)"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6 (::/96)"},
	{netip.MustParsePrefix("100::/64"), "discard (100::/64)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (fec0::/10)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation (2001:db8::/32)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"},
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// CheckAddr reports whether a webhook may connect to addr: nil for a public
// unicast address or one in AllowNets, a *WebhookTargetError otherwise.
// IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry,
// and so are well-known NAT64 addresses.
func (p WebhookPolicy) CheckAddr(addr netip.Addr) error {
	addr = addr.WithZone("").Unmap()
	if !addr.IsValid() {
		return refused("not an IP address")
	}
	if nat64.Contains(addr) {
		b := addr.As16()
		if err := p.CheckAddr(netip.AddrFrom4([4]byte(b[12:]))); err != nil {
			return refused("%s embeds %v", addr, err)
		}
	}
	for _, m := range metadataAddrs {
		if addr == m {
			return refused("%s is a cloud metadata address", addr)
		}
	}
	for _, n := range p.AllowNets {
		if n.Contains(addr) {
			return nil
		}
	}
	what := ""
	switch {
	case addr.IsUnspecified():
		what = "unspecified"
	case addr.IsLoopback():
		what = "loopback"
	case addr.IsPrivate():
		what = "private (RFC 1918 / ULA)"
	case addr.IsLinkLocalUnicast():
		what = "link-local"
	case addr.IsMulticast():
		what = "multicast"
	case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		what = "broadcast"
	default:
		for _, s := range specialNets {
			if s.prefix.Contains(addr) {
				what = s.what
				break
			}
		}
	}
	if what == "" && !addr.IsGlobalUnicast() {
		what = "not a public unicast address"
	}
	if what != "" {
		return refused("%s is %s; webhooks reach only public addresses unless the network is allowed", addr, what)
	}
	return nil
}

// CheckURL checks a webhook URL before it is stored or called: an absolute
// https URL (http only with AllowHTTP), at most MaxWebhookURL bytes, no
// credentials, no fragment, a host name that is not a metadata service, and
// an IP-literal host allowed by CheckAddr. Names are checked again after DNS
// on every connection. localhost names count as loopback addresses.
func (p WebhookPolicy) CheckURL(raw string) (*url.URL, error) {
	u, err := p.checkStatic(raw)
	if err != nil {
		return nil, err
	}
	host := hostName(u)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if p.CheckAddr(netip.MustParseAddr("127.0.0.1")) != nil && p.CheckAddr(netip.IPv6Loopback()) != nil {
			return nil, refused("%s is loopback; webhooks reach only public addresses unless the network is allowed", host)
		}
	}
	return u, nil
}

// CheckSubscriptionURL checks a URL a CRM subscribes with: CheckURL, then
// its host name is looked up now and refused when an address it resolves
// to may not be reached, so a name that points inside is refused at once
// rather than failing every delivery. A name that does not resolve now is
// accepted: every delivery checks the addresses again after DNS. The API
// and the web UI both check subscriptions with it; the error is a
// *WebhookTargetError.
func (p WebhookPolicy) CheckSubscriptionURL(ctx context.Context, raw string) error {
	u, err := p.CheckURL(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return nil // an address: CheckURL checked it
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a.Unmap()); err != nil {
			return refused("%s resolves to an address webhooks may not reach: %v", host, err)
		}
	}
	return nil
}

// WithoutCredentials removes user:password@ from a webhook URL stored
// before subscriptions refused them, so listings never show them.
func WithoutCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a valid URL)"
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// checkStatic is CheckURL without the localhost rule: what the worker checks
// before each delivery (names are then checked after DNS by the dialer).
func (p WebhookPolicy) checkStatic(raw string) (*url.URL, error) {
	if len(raw) > MaxWebhookURL {
		return nil, refused("the URL is %d bytes; the limit is %d", len(raw), MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return nil, refused("not a URL: %v", err)
	}
	switch {
	case u.Scheme == "http" && !p.AllowHTTP:
		return nil, refused("use https (plain http is not allowed on this server)")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, refused("use an https:// URL")
	case u.Opaque != "" || u.Host == "":
		return nil, refused("use an absolute URL with a host, e.g. https://crm.example/hooks")
	case u.User != nil:
		return nil, refused("the URL must not contain credentials (user:password@); authenticate with the signature, or a token in the path or query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, refused("the URL must not have a #fragment")
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return nil, refused("the query string is not valid: use name=value pairs joined by &")
	}
	host := hostName(u)
	if host == "" {
		return nil, refused("the URL has no host")
	}
	if metadataHosts[host] {
		return nil, refused("%s is a cloud metadata service", host)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return nil, refused("IPv6 zones are not allowed")
		}
		if err := p.CheckAddr(addr); err != nil {
			return nil, err
		}
	} else if looksNumeric(host) {
		// 2130706433, 0x7f.1, 127.1: spellings of addresses that some
		// resolvers accept. A real name's last label is never numeric.
		return nil, refused("%s is not a valid host name or IP address", host)
	}
	if port := u.Port(); port != "" {
		if n, err := netip.ParseAddrPort("0.0.0.0:" + port); err != nil || n.Port() == 0 {
			return nil, refused("port %s is not valid", port)
		}
	}
	return u, nil
}

// hostName is the URL's host without port and trailing dot, lower case.
func hostName(u *url.URL) string {
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
}

// looksNumeric reports whether a host's last label is all digits or hex
// (0x…), which no DNS name has.
func looksNumeric(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return true
	}
	for _, r := range last {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// webhookClient is an HTTP client for webhook deliveries: every connection's
// address is checked by the policy after DNS, right before connect; no proxy
// from the environment; redirects are not followed (the 3xx is returned).
func (p WebhookPolicy) webhookClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			if network != "tcp4" && network != "tcp6" {
				return refused("network %s is not allowed", network)
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return refused("cannot check address %q: %v", address, err)
			}
			return p.CheckAddr(ap.Addr())
		},
	}
	t := &http.Transport{
		Proxy:                 nil, // never HTTP(S)_PROXY: the proxy would connect for us, unchecked
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          50,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
