//go:build !linux

package media

import (
	"net"
	"net/netip"
)

// rtpWriter sends a session's packets with the net package.
type rtpWriter struct{ conn *net.UDPConn }

func newRTPWriter(conn *net.UDPConn) (*rtpWriter, error) { return &rtpWriter{conn: conn}, nil }

func (w *rtpWriter) write(b []byte, to netip.AddrPort) error {
	_, err := w.conn.WriteToUDPAddrPort(b, to)
	return err
}
