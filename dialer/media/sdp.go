package media

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// EventPT is the telephone-event payload type qualdial offers.
const EventPT = 101

// Direction is an SDP media direction (RFC 3264 §5.1): whether a side
// sends, receives, both or neither. Holding a call is offering sendonly
// (or inactive).
type Direction string

// The media directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Answer is the direction that answers an offer of d (RFC 3264 §6.1):
// sendonly is answered recvonly, recvonly sendonly; sendrecv and inactive
// are answered in kind.
func (d Direction) Answer() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Sends reports whether a side with this direction sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly || d == "" }

// Receives reports whether a side with this direction receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly || d == "" }

// LocalSDP describes our audio, for an offer or an answer.
type LocalSDP struct {
	// Host is the connection address (an IP address) and Port the RTP port.
	Host string
	Port int
	// Codecs in order of preference; an answer lists just the one chosen.
	Codecs []Codec
	// EventPT is the telephone-event payload type; negative for none.
	EventPT int
	// SessionID stays the same for the whole call; Version grows by one
	// with each new description of the session (RFC 3264 §8).
	SessionID, Version uint64
	// Direction; empty means sendrecv.
	Direction Direction
	// RTCPMux offers (or accepts) RTCP on the RTP port (RFC 5761).
	RTCPMux bool
}

// Marshal writes the description as SDP.
func (l LocalSDP) Marshal() ([]byte, error) {
	addrType := "IP4"
	if ip := net.ParseIP(l.Host); ip != nil && ip.To4() == nil {
		addrType = "IP6"
	}
	s := &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "qualdial", SessionID: l.SessionID, SessionVersion: l.Version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: l.Host},
		SessionName:           "qualdial",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: l.Host}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
	}
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: l.Port}, Protos: []string{"RTP", "AVP"}}}
	for _, c := range l.Codecs {
		md.WithCodec(uint8(c), c.String(), SampleRate, 0, "")
	}
	if l.EventPT >= 0 && l.EventPT <= 127 {
		md.WithCodec(uint8(l.EventPT), "telephone-event", SampleRate, 0, "0-16")
	}
	md.WithValueAttribute("ptime", "20")
	if l.RTCPMux {
		md.WithPropertyAttribute("rtcp-mux")
	}
	dir := l.Direction
	if dir == "" {
		dir = SendRecv
	}
	md.WithPropertyAttribute(string(dir))
	s.MediaDescriptions = []*sdp.MediaDescription{md}
	return s.Marshal()
}

// BuildSDP describes local audio at host:port: the codecs in order of
// preference and telephone-event for RFC 4733 DTMF, sendrecv.
func BuildSDP(host string, port int, codecs []Codec, sessionID uint64) ([]byte, error) {
	return LocalSDP{Host: host, Port: port, Codecs: codecs, EventPT: EventPT, SessionID: sessionID, Version: sessionID}.Marshal()
}

// RemoteMedia is what the far end's SDP says about its audio.
type RemoteMedia struct {
	Addr    *net.UDPAddr
	Codec   Codec
	EventPT int // -1: no telephone-event
	// Direction is the far end's: sendonly or inactive when it holds the
	// call. An offer with the old hold convention (c=0.0.0.0) reads as
	// sendonly.
	Direction Direction
	// RTCPMux: the far end takes RTCP on its RTP port (a=rtcp-mux).
	RTCPMux bool
}

// ParseSDP reads the far end's SDP (offer or answer): its audio address,
// the first G.711 codec it lists among ours, and its telephone-event
// payload type.
func ParseSDP(body []byte, offered []Codec) (RemoteMedia, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return RemoteMedia{}, fmt.Errorf("parse SDP: %w", err)
	}
	codecs := s.GetCodecMap()
	for _, md := range s.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = s.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return RemoteMedia{}, errors.New("SDP has no connection address")
		}
		host, _, _ := strings.Cut(ci.Address.Address, "/") // multicast TTL suffix
		ip := net.ParseIP(host)
		if ip == nil {
			return RemoteMedia{}, fmt.Errorf("SDP connection address %q is not an IP address", ci.Address.Address)
		}
		rm := RemoteMedia{Addr: &net.UDPAddr{IP: ip, Port: md.MediaName.Port.Value}, Codec: 255, EventPT: -1,
			Direction: direction(s.Attributes, md.Attributes)}
		if _, ok := md.Attribute("rtcp-mux"); ok {
			rm.RTCPMux = true
		}
		if ip.IsUnspecified() && rm.Direction == SendRecv {
			rm.Direction = SendOnly // RFC 2543 hold: "do not send to me"
		}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			c, known := codecs[uint8(pt)]
			switch {
			case known && strings.EqualFold(c.Name, "telephone-event") && c.ClockRate == SampleRate:
				if rm.EventPT < 0 {
					rm.EventPT = pt
				}
			case rm.Codec == 255 && (pt == int(PCMU) || pt == int(PCMA)) && offers(offered, Codec(pt)):
				rm.Codec = Codec(pt)
			}
		}
		if rm.Codec == 255 {
			return RemoteMedia{}, fmt.Errorf("SDP offers no codec we support (%s)", codecNames(offered))
		}
		if rm.Addr.Port < 1 || rm.Addr.Port > 65535 {
			return RemoteMedia{}, fmt.Errorf("SDP audio port %d is invalid", rm.Addr.Port)
		}
		return rm, nil
	}
	return RemoteMedia{}, errors.New("SDP has no active audio stream")
}

// direction reads a=sendrecv/sendonly/recvonly/inactive, the media level
// overriding the session level; sendrecv when neither says.
func direction(session, media []sdp.Attribute) Direction {
	for _, attrs := range [][]sdp.Attribute{media, session} {
		for _, a := range attrs {
			switch d := Direction(a.Key); d {
			case SendRecv, SendOnly, RecvOnly, Inactive:
				return d
			}
		}
	}
	return SendRecv
}

func offers(cs []Codec, c Codec) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

func codecNames(cs []Codec) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.String()
	}
	return strings.Join(names, ", ")
}
