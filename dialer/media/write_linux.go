package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// errSendBufferFull is a packet dropped because the socket's send buffer
// was full: the pacing clock never waits for one call's socket.
var errSendBufferFull = errors.New("send buffer full: packet dropped")

// rtpWriter sends a session's packets with sendto(2) on its socket, never
// waiting for room in the send buffer (MSG_DONTWAIT; a full buffer drops the
// packet, as a congested network would). It keeps the destination's socket
// address between packets and allocates nothing per packet. Only the
// session's clock goroutine uses it.
//
// The call is a raw system call: a non-blocking sendto returns in
// microseconds, and the runtime is not told about it, so the clock
// goroutine keeps its processor. Through the runtime's syscall path, a
// send that the scheduler's monitor catches in the kernel hands the
// processor over, and the clock then queues behind every runnable receiving
// goroutine before it can send the next session's packet — a stall of up to
// a frame for the rest of its sessions.
type rtpWriter struct {
	rc    syscall.RawConn
	v6    bool // the socket is AF_INET6 (IPv4 goes as v4-mapped)
	to    netip.AddrPort
	sa    unsafe.Pointer // &sa4 or &sa6, for to
	salen uintptr
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	fn    func(fd uintptr) bool

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
		_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(w.b))),
			uintptr(len(w.b)), syscall.MSG_DONTWAIT, uintptr(w.sa), w.salen)
		if errno != 0 {
			w.err = errno
		}
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
		w.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		putPort(&w.sa6.Port, to.Port())
		w.sa, w.salen = unsafe.Pointer(&w.sa6), unsafe.Sizeof(w.sa6)
	case a.Is4():
		w.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		putPort(&w.sa4.Port, to.Port())
		w.sa, w.salen = unsafe.Pointer(&w.sa4), unsafe.Sizeof(w.sa4)
	default:
		return fmt.Errorf("cannot send to %s from an IPv4 socket", to)
	}
	w.to = to
	return nil
}

// putPort stores port in network byte order, whatever the machine's.
func putPort(field *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(port>>8), byte(port)
}
