package ivr

import (
	"fmt"
	"strings"
)

// placeholder is one {{name|default}} in a prompt text.
type placeholder struct {
	Name    string
	Default string
}

// parseText splits a prompt text into literal parts and placeholders. It
// rejects unclosed braces and names that are not lower-case identifiers.
func parseText(text string) (parts []string, holders []placeholder, err error) {
	rest := text
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if j := strings.Index(rest, "}}"); j >= 0 {
				return nil, nil, fmt.Errorf("%q has a closing }} without an opening {{", text)
			}
			return append(parts, rest), holders, nil
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, nil, fmt.Errorf("%q has an opening {{ without a closing }}", text)
		}
		if k := strings.Index(rest[:i], "}}"); k >= 0 {
			return nil, nil, fmt.Errorf("%q has a closing }} without an opening {{", text)
		}
		inner := rest[i+2 : i+j]
		name, def, _ := strings.Cut(inner, "|")
		name = strings.TrimSpace(name)
		if !isIdent(name) {
			return nil, nil, fmt.Errorf("placeholder {{%s}} must name a lead field in lower case, like {{first_name}} or {{company|your company}}", inner)
		}
		parts = append(parts, rest[:i])
		holders = append(holders, placeholder{Name: name, Default: strings.TrimSpace(def)})
		rest = rest[i+j+2:]
	}
}

// Fill writes a prompt as a lead hears it: its {{field|default}}
// placeholders filled from the lead's fields (see render).
func Fill(text string, fields map[string]string) string { return render(text, fields) }

// render fills the placeholders of text from vars. A missing or empty field
// is replaced by the placeholder's default (or nothing), and the spaces
// around it are tidied so that "Hello {{first_name}}." never reads "Hello ."
func render(text string, vars map[string]string) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	parts, holders, err := parseText(text)
	if err != nil {
		return text // validated scripts never get here
	}
	var b strings.Builder
	emptied := false
	for i, p := range parts {
		b.WriteString(p)
		if i < len(holders) {
			v := strings.TrimSpace(vars[holders[i].Name])
			if v == "" {
				v = holders[i].Default
			}
			emptied = emptied || v == ""
			b.WriteString(v)
		}
	}
	out := b.String()
	if !emptied {
		return out
	}
	for _, fix := range [][2]string{{"  ", " "}, {" .", "."}, {" ,", ","}, {" ?", "?"}, {" !", "!"}} {
		for strings.Contains(out, fix[0]) {
			out = strings.ReplaceAll(out, fix[0], fix[1])
		}
	}
	return strings.TrimSpace(out)
}

func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
