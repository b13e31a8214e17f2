package twilio

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// node is one TwiML element. TwiML is written here rather than with
// twilio-go's twiml package, which drops attributes whose value is empty —
// and finishOnKey="" (no finish key) is one Twilio gives a meaning to.
type node struct {
	name  string
	attrs []xml.Attr // written in this order, values escaped; empty values kept
	text  string
	kids  []node
}

// el makes an element; attrs are name, value pairs.
func el(name string, attrs ...string) node {
	n := node{name: name}
	for i := 0; i+1 < len(attrs); i += 2 {
		n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return n
}

func (n node) withText(s string) node { n.text = s; return n }
func (n node) with(kids ...node) node { n.kids = append(n.kids, kids...); return n }

func (n node) encode(e *xml.Encoder) error {
	start := xml.StartElement{Name: xml.Name{Local: n.name}, Attr: n.attrs}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if n.text != "" {
		if err := e.EncodeToken(xml.CharData(n.text)); err != nil {
			return err
		}
	}
	for _, k := range n.kids {
		if err := k.encode(e); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// response renders <Response> with the verbs as a TwiML document.
func response(verbs ...node) (string, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	e := xml.NewEncoder(&b)
	if err := el("Response").with(verbs...).encode(e); err != nil {
		return "", fmt.Errorf("render TwiML: %w", err)
	}
	if err := e.Flush(); err != nil {
		return "", fmt.Errorf("render TwiML: %w", err)
	}
	return b.String(), nil
}
