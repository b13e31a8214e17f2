package sip

import (
	"errors"
	"math/rand/v2"
	"net"
)

// portPool hands out RTP sockets from a port range (even ports, as RTP
// customarily uses), or any free port when the range is empty.
type portPool struct {
	min, max int
}

func newPortPool(lo, hi int) *portPool { return &portPool{min: lo, max: hi} }

func (p *portPool) listen(ip net.IP) (*net.UDPConn, error) {
	if p.min == 0 {
		return net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	}
	lo := p.min + p.min%2
	n := (p.max - lo + 2) / 2
	if n <= 0 {
		return nil, errors.New("RTP port range holds no even port")
	}
	start := rand.IntN(n)
	for i := range n {
		port := lo + 2*((start+i)%n)
		if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port}); err == nil {
			return c, nil
		}
	}
	return nil, errors.New("every RTP port in the range is in use")
}
