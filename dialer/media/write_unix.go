//go:build unix

package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// errSendBufferFull is a packet dropped because the socket's send buffer
// was full: the pacing clock never waits for one call's socket.
var errSendBufferFull = errors.New("send buffer full: packet dropped")

// rtpWriter sends a session's packets with sendto(2) on its socket, never
// waiting for room in the send buffer (the socket is non-blocking; a full
// buffer drops the packet, as a congested network would). It keeps the
// destination's socket address between packets and allocates nothing per
// packet. Only the session's clock goroutine uses it.
type rtpWriter struct {
	rc  syscall.RawConn
	v6  bool // the socket is AF_INET6 (IPv4 goes as v4-mapped)
	to  netip.AddrPort
	sa  syscall.Sockaddr // &sa4 or &sa6, for to
	sa4 syscall.SockaddrInet4
	sa6 syscall.SockaddrInet6
	fn  func(fd uintptr) bool

	b   []byte // the packet fn sends
	err error  // fn's result
}

func newRTPWriter(conn *net.UDPConn) (*rtpWriter, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("rtp socket: %w", err)
	}
	var local syscall.Sockaddr
	var lerr error
	if err := rc.Control(func(fd uintptr) { local, lerr = syscall.Getsockname(int(fd)) }); err != nil {
		return nil, fmt.Errorf("rtp socket: %w", err)
	}
	if lerr != nil {
		return nil, fmt.Errorf("rtp socket address: %w", lerr)
	}
	w := &rtpWriter{rc: rc}
	_, w.v6 = local.(*syscall.SockaddrInet6)
	w.fn = func(fd uintptr) bool {
		w.err = syscall.Sendto(int(fd), w.b, 0, w.sa)
		return true // done, even on EAGAIN: never wait for the buffer
	}
	return w, nil
}

// write sends b to to.
func (w *rtpWriter) write(b []byte, to netip.AddrPort) error {
	if to != w.to || w.sa == nil {
		if err := w.setDestination(to); err != nil {
			return err
		}
	}
	w.b = b
	err := w.rc.Write(w.fn)
	if err == nil {
		err = w.err
	}
	w.b, w.err = nil, nil
	if errors.Is(err, syscall.EAGAIN) {
		return errSendBufferFull
	}
	return err
}

func (w *rtpWriter) setDestination(to netip.AddrPort) error {
	a := to.Addr().Unmap()
	switch {
	case w.v6:
		w.sa6 = syscall.SockaddrInet6{Port: int(to.Port()), Addr: a.As16()}
		w.sa = &w.sa6
	case a.Is4():
		w.sa4 = syscall.SockaddrInet4{Port: int(to.Port()), Addr: a.As4()}
		w.sa = &w.sa4
	default:
		return fmt.Errorf("cannot send to %s from an IPv4 socket", to)
	}
	w.to = to
	return nil
}
