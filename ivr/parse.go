package ivr

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// Parse decodes and validates a script. file names the source in
// diagnostics. The script is nil when the diagnostics contain an error;
// warnings alone leave it usable.
func Parse(file string, data []byte) (*Script, Diagnostics) {
	c := &collector{file: file}
	s := decode(c, data)
	if s != nil {
		s.File = file
		validate(c, s)
	}
	c.ds.sort()
	c.ds = c.ds.capped(MaxDiagnostics)
	if c.ds.HasErrors() {
		return nil, c.ds
	}
	return s, c.ds
}

// MustParse parses a script known to be valid, such as an embedded one, and
// panics otherwise. It is meant for package initialisation and tests.
func MustParse(file string, data []byte) *Script {
	s, ds := Parse(file, data)
	if err := ds.Err(); err != nil {
		panic(err)
	}
	return s
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// decode turns YAML into a Script, reporting syntax errors, type errors and
// unknown fields. It returns nil only when nothing could be decoded. The
// size and the alias-expanded node count are checked before anything is
// decoded or walked, so an alias bomb costs no more than reading its text.
func decode(c *collector, data []byte) *Script {
	if len(data) > MaxScriptSize {
		c.errorf(1, "script is %d bytes; the limit is %d bytes (%d KiB)", len(data), MaxScriptSize, MaxScriptSize>>10)
		return nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		addSyntaxError(c, data, err)
		return nil
	}
	n, err := countNodes(&root, MaxScriptNodes)
	var cycle *errAliasCycle
	switch {
	case errors.As(err, &cycle):
		c.errorf(cycle.line, "%s", cycle)
		return nil
	case n > MaxScriptNodes:
		c.errorf(1, "script has more than %d YAML nodes (the limit) once its aliases (*name) are expanded; repeat less through aliases", MaxScriptNodes)
		return nil
	}
	if len(root.Content) == 0 {
		c.errorf(1, "script is empty")
		return nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		c.errorf(doc.Line, "a script must be a mapping of keys (id, version, questions…), not a %s", kindName(doc.Kind))
		return nil
	}
	checkFields(c, doc, reflect.TypeFor[Script](), "script")
	var s Script
	if err := doc.Decode(&s); err != nil {
		addYAMLError(c, err)
	}
	s.lines = make(map[string]int)
	for i := 0; i+1 < len(doc.Content); i += 2 {
		s.lines[doc.Content[i].Value] = doc.Content[i].Line
	}
	return &s
}

// addSyntaxError reports a YAML syntax error. The decoder names the line
// where the enclosing block starts; a second parser pinpoints the line of the
// mistake itself, so that is preferred when it agrees there is one.
func addSyntaxError(c *collector, data []byte, err error) {
	var se *goccy.SyntaxError
	if _, perr := goccyparser.ParseBytes(data, 0); errors.As(perr, &se) && se.Token != nil && se.Token.Position != nil {
		c.errorf(se.Token.Position.Line, "YAML syntax: %s", se.Message)
		return
	}
	addYAMLError(c, err)
}

func addYAMLError(c *collector, err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			line, _ := strconv.Atoi(g[1])
			c.errorf(line, "%s", tidyYAMLMessage(g[2]))
			continue
		}
		c.errorf(1, "%s", strings.TrimPrefix(m, "yaml: "))
	}
}

// tidyYAMLMessage rewrites the decoder's Go type names into words a script
// writer knows.
func tidyYAMLMessage(m string) string {
	r := strings.NewReplacer(
		"into int64", "into a whole number", "into int", "into a whole number",
		"into string", "into a text", "into map[string]int", "into a mapping of dimension: points",
		"into map[string]ivr.Action", "into a mapping of key: action", "into map[string]ivr.Ending", "into a mapping of endings",
		"into []ivr.Question", "into a list of questions", "into []ivr.Class", "into a list of classes",
		"into []ivr.Range", "into a list of ranges", "into []string", "into a list",
		"into ivr.", "into a ", "into *ivr.", "into a ",
	)
	return r.Replace(m)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	case yaml.MappingNode:
		return "mapping"
	}
	return "document"
}

// checkFields reports keys that the target type does not have, so that a
// typo such as "sccore:" is an error instead of silently ignored points. It
// follows the struct's yaml tags through maps, slices and pointers.
func checkFields(c *collector, n *yaml.Node, t reflect.Type, where string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // merge key
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				c.errorf(k.Line, "unknown field %q in %s (known fields: %s)", k.Value, where, strings.Join(sortedKeys(fields), ", "))
				continue
			}
			checkFields(c, v, ft, k.Value)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkFields(c, n.Content[i+1], t.Elem(), where+" "+strconv.Quote(n.Content[i].Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for _, item := range n.Content {
			checkFields(c, item, t.Elem(), strings.TrimSuffix(where, "s"))
		}
	}
}

// yamlFields maps the yaml keys of a struct (inline fields flattened) to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (s *Script) line(key string) int {
	if l, ok := s.lines[key]; ok {
		return l
	}
	return 1
}

// String names the script as "id v<version>".
func (s *Script) String() string { return fmt.Sprintf("%s v%d", s.ID, s.Version) }
