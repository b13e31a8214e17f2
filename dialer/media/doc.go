// Package media is qualdial's telephony audio: G.711 μ-law and A-law,
// 20 ms framing, an RTP session with drift-free pacing, RFC 4733
// telephone-event encoding and decoding, and in-band DTMF detection. It knows
// nothing about SIP; the SIP driver and the softphone both build on it.
package media
