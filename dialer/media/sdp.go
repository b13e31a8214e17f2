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

// BuildSDP describes local audio at host:port: the codecs in order of preference and
// telephone-event for RFC 4733 DTMF.
func BuildSDP(host string, port int, codecs []Codec, sessionID uint64) ([]byte, error) {
	addrType := "IP4"
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		addrType = "IP6"
	}
	s := &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "qualdial", SessionID: sessionID, SessionVersion: sessionID,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: host},
		SessionName:           "qualdial",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: host}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
	}
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: []string{"RTP", "AVP"}}}
	for _, c := range codecs {
		md.WithCodec(uint8(c), c.String(), SampleRate, 0, "")
	}
	md.WithCodec(EventPT, "telephone-event", SampleRate, 0, "0-16").
		WithValueAttribute("ptime", "20").
		WithPropertyAttribute(sdp.AttrKeySendRecv)
	s.MediaDescriptions = []*sdp.MediaDescription{md}
	return s.Marshal()
}

// RemoteMedia is what the far end's SDP says about its audio.
type RemoteMedia struct {
	Addr    *net.UDPAddr
	Codec   Codec
	EventPT int // -1: no telephone-event
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
		rm := RemoteMedia{Addr: &net.UDPAddr{IP: ip, Port: md.MediaName.Port.Value}, Codec: 255, EventPT: -1}
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
