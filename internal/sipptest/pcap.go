package sipptest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/pion/rtp"
)

// Packet is one RTP packet of a generated capture.
type Packet struct {
	// At is when it is sent, from the start of the capture.
	At time.Duration
	rtp.Packet
}

// pcap framing: Ethernet, IPv4, UDP, as sipp's play_pcap_audio reads it.
// sipp rewrites addresses and ports to the call's media and sends the RTP
// as it is, paced by the capture's timestamps.
const (
	pcapLinkEthernet = 1
	ethHeader        = 14
	ipv4Header       = 20
	udpHeader        = 8
	capturePort      = 40000
)

// WritePCAP writes packets as a classic pcap file for sipp's
// play_pcap_audio. Packets must be in order of At.
func WritePCAP(path string, pkts []Packet) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	// Global header: magic, version 2.4, GMT offset, accuracy, snap length, link type.
	hdr := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	hdr = binary.LittleEndian.AppendUint16(hdr, 2)
	hdr = binary.LittleEndian.AppendUint16(hdr, 4)
	hdr = binary.LittleEndian.AppendUint32(hdr, 0)
	hdr = binary.LittleEndian.AppendUint32(hdr, 0)
	hdr = binary.LittleEndian.AppendUint32(hdr, 65535)
	hdr = binary.LittleEndian.AppendUint32(hdr, pcapLinkEthernet)
	_, _ = w.Write(hdr)
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var last time.Duration
	for i, p := range pkts {
		if p.At < last {
			f.Close()
			return fmt.Errorf("sipptest: packet %d at %s comes before the one at %s", i, p.At, last)
		}
		last = p.At
		payload, err := p.Packet.Marshal()
		if err != nil {
			f.Close()
			return fmt.Errorf("sipptest: packet %d: %w", i, err)
		}
		frame := datagram(uint16(i), payload)
		at := base.Add(p.At)
		rec := binary.LittleEndian.AppendUint32(nil, uint32(at.Unix()))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(at.Nanosecond()/1000))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(len(frame)))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(len(frame)))
		_, _ = w.Write(rec)
		_, _ = w.Write(frame)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// datagram frames an RTP packet as Ethernet/IPv4/UDP from 127.0.0.1 to
// 127.0.0.1 (sipp replaces both).
func datagram(id uint16, payload []byte) []byte {
	b := make([]byte, 0, ethHeader+ipv4Header+udpHeader+len(payload))
	b = append(b, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00) // dst, src, IPv4
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
	binary.BigEndian.PutUint16(ip[2:], uint16(ipv4Header+udpHeader+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], id)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	b = append(b, ip...)
	b = binary.BigEndian.AppendUint16(b, capturePort)
	b = binary.BigEndian.AppendUint16(b, capturePort+2)
	b = binary.BigEndian.AppendUint16(b, uint16(udpHeader+len(payload)))
	b = binary.BigEndian.AppendUint16(b, 0) // no UDP checksum (allowed over IPv4)
	return append(b, payload...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
