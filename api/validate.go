package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/ivr"
)

// check collects field errors, so a request hears about all of its
// problems at once. Its methods return whether the value was fine.
type check struct {
	errs intake.Errors
}

func (c *check) add(field, format string, args ...any) {
	c.errs = append(c.errs, intake.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err is nil, or the field errors (a 422).
func (c *check) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

// text checks one line of text of at most max characters.
func (c *check) text(field, v string, max int) bool {
	if msg := intake.CheckText(v, max, false); msg != "" {
		c.add(field, "%s", msg)
		return false
	}
	return true
}

// multiline checks text that may hold line breaks.
func (c *check) multiline(field, v string, max int) bool {
	if msg := intake.CheckText(v, max, true); msg != "" {
		c.add(field, "%s", msg)
		return false
	}
	return true
}

func (c *check) intRange(field string, v, min, max int64) bool {
	if v < min || v > max {
		c.add(field, "%d is out of range: use %d to %d", v, min, max)
		return false
	}
	return true
}

func (c *check) oneOf(field, v string, allowed []string) bool {
	if !slices.Contains(allowed, v) {
		c.add(field, "%s is not one of: %s", quote(v), strings.Join(allowed, ", "))
		return false
	}
	return true
}

// duration reads a duration like 25s, 15m, 2h or 1d within [min, max].
func (c *check) duration(field, v string, min, max time.Duration) time.Duration {
	if !c.text(field, v, 32) {
		return 0
	}
	d, err := ivr.ParseDuration(v)
	if err != nil || d < min || d > max {
		c.add(field, "%s: use a duration like 25s, 15m, 2h or 1d, from %s to %s", quote(v), ivr.Duration(min), ivr.Duration(max))
		return 0
	}
	return d
}

// quote shows a value in a message: quoted, escaped, cut to 40 characters.
func quote(s string) string { return intake.Quote(s) }

// maxInt53 is the largest id a JSON number carries exactly (2^53 - 1).
const maxInt53 = 1<<53 - 1

// parseID reads a positive id (decimal digits, at most 2^63-1). ok is false
// when s is not a number at all; err says what is wrong with a number.
func parseID(s string) (id int64, ok bool, err error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false, nil
	}
	id, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || id <= 0 {
		return 0, true, fmt.Errorf("%s is not an id: use a whole number from 1 to %d", quote(s), int64(math.MaxInt64))
	}
	return id, true, nil
}

// pathID reads an id from the path: a malformed one is a 400 naming the
// parameter; a well-formed one that names nothing becomes a 404 later.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, ok, err := parseID(v)
	if !ok && err == nil {
		err = fmt.Errorf("%s is not an id: use a whole number from 1 to %d", quote(v), int64(math.MaxInt64))
	}
	if err != nil {
		return 0, &apiError{status: http.StatusBadRequest, detail: "the path has an invalid parameter",
			fields: []intake.FieldError{{Field: name, Message: err.Error()}}}
	}
	return id, nil
}

// query reads a request's query parameters: each at most once, valid
// text, and only those the endpoint knows (a misspelt filter must not
// silently list, claim or export something else).
type query struct {
	v url.Values
	c *check
}

const maxQueryValue = 256

func readQuery(r *http.Request, known ...string) (*query, error) {
	q := &query{c: &check{}}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed: %v", err)
	}
	q.v = v
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		vs := v[name]
		switch {
		case !slices.Contains(known, name):
			field := name
			if intake.CheckText(name, 64, false) != "" {
				field = "query"
			}
			if len(known) == 0 {
				q.c.add(field, "unknown parameter: this endpoint takes none")
			} else {
				q.c.add(field, "unknown parameter: use %s", strings.Join(known, ", "))
			}
		case len(vs) > 1:
			q.c.add(name, "given %d times: give it once", len(vs))
		default:
			max := maxQueryValue
			if name == "mapping" {
				max = 16 << 10
			}
			q.c.text(name, vs[0], max)
		}
	}
	return q, nil
}

// noQuery refuses query parameters on an endpoint that takes none.
func noQuery(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := readQuery(r)
	if err != nil {
		return err
	}
	return q.c.err()
}

// str is a parameter's value ("" when absent or invalid).
func (q *query) str(name string) string {
	vs := q.v[name]
	if len(vs) != 1 || intake.CheckText(vs[0], 16<<10, false) != "" {
		return ""
	}
	return vs[0]
}

func (q *query) has(name string) bool { _, ok := q.v[name]; return ok }

// enum is a parameter that must be one of allowed, or absent.
func (q *query) enum(name string, allowed []string) string {
	v := q.str(name)
	if q.has(name) && v != "" && !slices.Contains(allowed, v) {
		q.c.add(name, "%s is not one of: %s", quote(v), strings.Join(allowed, ", "))
		return ""
	}
	if q.has(name) && v == "" && len(q.v[name]) == 1 && q.v[name][0] == "" {
		q.c.add(name, "empty: use one of %s, or leave the parameter out", strings.Join(allowed, ", "))
	}
	return v
}

// id is a positive id parameter, or 0 when absent.
func (q *query) id(name string) int64 {
	if !q.has(name) {
		return 0
	}
	v := q.str(name)
	id, ok, err := parseID(v)
	if !ok && err == nil {
		err = fmt.Errorf("%s is not an id: use a whole number from 1 to %d", quote(v), int64(math.MaxInt64))
	}
	if err != nil {
		q.c.add(name, "%v", err)
		return 0
	}
	return id
}

// boolean is true, false (1, 0) or absent (false).
func (q *query) boolean(name string) bool {
	if !q.has(name) {
		return false
	}
	switch q.str(name) {
	case "true", "1":
		return true
	case "false", "0":
		return false
	}
	q.c.add(name, "%s: use true or false", quote(q.str(name)))
	return false
}

// Page sizes of list endpoints.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// limit is the page size: 1-500, default 50.
func (q *query) limit() int {
	if !q.has("limit") {
		return defaultLimit
	}
	v := q.str("limit")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		q.c.add("limit", "%s: use a whole number from 1 to %d", quote(v), maxLimit)
		return defaultLimit
	}
	return n
}

// jsonObject is a JSON body read as an object, field by field, so that each
// problem names its field: unknown fields, wrong types and nulls where a
// value is needed are all field errors.
type jsonObject struct {
	m      map[string]json.RawMessage
	prefix string
	c      *check
}

// readObject reads a JSON object body of at most max bytes. A body that is
// not UTF-8 or not an object is a 400.
func readObject(w http.ResponseWriter, r *http.Request, max int64) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}

func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, badRequest("the body is not valid UTF-8")
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil {
		var te *json.UnmarshalTypeError
		switch {
		case err == nil:
			return nil, badRequest("the body must be a JSON object {…}, not null")
		case errors.As(err, &te):
			return nil, badRequest("the body must be a JSON object {…}, not %s", jsonKind(te.Value))
		}
		return nil, badRequest("the body is not valid JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("the body has more than one JSON value")
	}
	if name, ok := duplicateKey(body); ok {
		return nil, invalid(intake.FieldError{Field: name, Message: "given twice in the body: give it once"})
	}
	// encoding/json turns an escaped lone surrogate (\ud800) into U+FFFD
	// silently; text must arrive as it was meant.
	if bytes.Contains(body, []byte(`\u`)) && !bytes.Contains(body, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) {
		for k, raw := range m {
			var v any
			if json.Unmarshal(raw, &v) == nil && strings.ContainsRune(fmt.Sprint(v), utf8.RuneError) {
				return nil, invalid(intake.FieldError{Field: k, Message: `contains a \u escape that is not a character (a lone UTF-16 surrogate)`})
			}
		}
	}
	return m, nil
}

// duplicateKey reports a name given twice in a JSON object's top level
// (encoding/json would keep the last one silently).
func duplicateKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, _ := t.(string)
		if seen[k] {
			return k, true
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func (o *jsonObject) name(field string) string {
	if o.prefix == "" {
		return field
	}
	return o.prefix + "." + field
}

// unknown reports fields that are not in known.
func (o *jsonObject) unknown(known ...string) {
	var extra []string
	for k := range o.m {
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		field := o.name(k)
		if intake.CheckText(k, 64, false) != "" {
			field = o.name("fields")
		}
		o.c.add(field, "unknown field: use %s", strings.Join(known, ", "))
	}
}

// get decodes a field into dst (a pointer) and reports whether it was
// given. A null counts as not given unless nullable, when get reports it
// as given and leaves dst alone.
func (o *jsonObject) get(field string, dst any, nullable bool) (given, null bool) {
	raw, ok := o.m[field]
	if !ok {
		return false, false
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		if !nullable {
			o.c.add(o.name(field), "must not be null: leave it out to keep the default")
			return false, false
		}
		return true, true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		o.c.add(o.name(field), "must be %s", typeWord(reflect.TypeOf(dst).Elem()))
		return false, false
	}
	return true, false
}

// object returns a nested object field.
func (o *jsonObject) object(field string) (*jsonObject, bool) {
	var m map[string]json.RawMessage
	if given, _ := o.get(field, &m, false); !given {
		return nil, false
	}
	return &jsonObject{m: m, prefix: o.name(field), c: o.c}, true
}

// jsonKind names a JSON value's kind as encoding/json reports it.
func jsonKind(v string) string {
	switch v {
	case "array":
		return "an array"
	case "object":
		return "an object"
	case "number":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return v
}

func typeWord(t reflect.Type) string {
	if t == reflect.TypeOf(json.RawMessage(nil)) {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(typeWord(t.Elem()), "a "), "an ") + "s"
	case reflect.Map:
		return "an object"
	}
	return "a " + t.String()
}
