package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/store"
)

var dncSources = []string{store.DNCOptOut, store.DNCManual, store.DNCImport, store.DNCAPI, "carrier_block"}

const maxDNCReason = 500

// country checks an optional ISO 3166 country for numbers written without
// a country code.
func (c *check) country(field, v string) string {
	v = strings.ToUpper(strings.TrimSpace(v))
	if v == "" {
		return ""
	}
	if _, ok := phonenumbers.GetSupportedRegions()[v]; !ok {
		c.add(field, "%s is not a country: use an ISO 3166 alpha-2 code such as US, GB or DE", quote(v))
		return ""
	}
	return v
}

func (s *server) addDNC(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	if err := noQuery(r); err != nil {
		return err
	}
	values, err := s.readValues(w, r)
	if err != nil {
		return err
	}
	var c check
	for k := range values {
		if k != "phone" && k != "country" && k != "reason" {
			field := k
			if intake.CheckText(k, 64, false) != "" {
				field = "fields"
			}
			c.add(field, "unknown field: use phone, country, reason")
		}
	}
	country := ""
	if c.text("country", values["country"], 8) {
		country = c.country("country", values["country"])
	}
	c.text("reason", values["reason"], maxDNCReason)
	var phone string
	if values["phone"] == "" {
		c.add("phone", "required: the number to stop calling")
	} else if c.text("phone", values["phone"], intake.MaxPhoneLen) {
		p, err := intake.NormalizePhone(values["phone"], country)
		if err != nil {
			c.add("phone", "%v", err)
		}
		phone = p
	}
	if err := c.err(); err != nil {
		return err
	}
	if _, err := s.store.AddDNC(r.Context(), s.store.Pool(), store.DNCEntry{Phone: phone, Source: store.DNCAPI, Reason: values["reason"],
		Actor: keyActor(key)}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"phone": phone, "on_dnc": true})
	return nil
}

// dncPhone reads the number of /v1/dnc/{phone}, with ?country= for one
// written without a country code.
func (s *server) dncPhone(r *http.Request, extra ...string) (string, *query, error) {
	q, err := readQuery(r, append([]string{"country"}, extra...)...)
	if err != nil {
		return "", nil, err
	}
	country := q.c.country("country", q.str("country"))
	raw := r.PathValue("phone")
	if msg := intake.CheckText(raw, intake.MaxPhoneLen, false); msg != "" {
		return "", nil, &apiError{status: http.StatusBadRequest, detail: "the path has an invalid parameter",
			fields: []intake.FieldError{{Field: "phone", Message: msg}}}
	}
	if err := q.c.err(); err != nil {
		return "", nil, err
	}
	phone, err := intake.NormalizePhone(raw, country)
	if err != nil {
		return "", nil, invalid(intake.FieldError{Field: "phone", Message: err.Error() + " (give an E.164 number, or ?country=)"})
	}
	return phone, q, nil
}

func (s *server) checkDNC(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	phone, _, err := s.dncPhone(r)
	if err != nil {
		return err
	}
	on, err := store.OnDNC(r.Context(), s.store.Pool(), phone)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"phone": phone, "on_dnc": on})
	return nil
}

func (s *server) removeDNC(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	phone, q, err := s.dncPhone(r, "reason")
	if err != nil {
		return err
	}
	if q.has("reason") && !q.c.text("reason", q.str("reason"), maxDNCReason) {
		return q.c.err()
	}
	removed, err := s.store.RemoveDNC(r.Context(), s.store.Pool(), phone, keyActor(key), q.str("reason"))
	if err != nil {
		return err
	}
	if !removed {
		return notFound("number on the do-not-call list")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listDNC pages through the do-not-call list, newest first.
func (s *server) listDNC(w http.ResponseWriter, r *http.Request, key *store.APIKey) error {
	q, err := readQuery(r, "q", "source", "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.DNCFilter{Source: q.enum("source", dncSources), Limit: q.limit()}
	if q.has("q") {
		digits := strings.TrimPrefix(strings.TrimSpace(q.str("q")), "+")
		if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 15 {
			q.c.add("q", "%s: search with 1 to 15 digits of the number (a leading + is allowed)", quote(q.str("q")))
		}
		f.Search = digits
	}
	if q.str("cursor") != "" { // an empty cursor is the first page
		b, err := base64.RawURLEncoding.DecodeString(q.str("cursor"))
		at, phone, ok := strings.Cut(string(b), "|")
		t, terr := time.Parse(time.RFC3339Nano, at)
		if err != nil || !ok || terr != nil || !e164.MatchString(phone) {
			q.c.add("cursor", "not a cursor this API gave out: pass next_cursor from the previous page")
		}
		f.AfterAt, f.AfterPhone = t, phone
	}
	if err := q.c.err(); err != nil {
		return err
	}
	list, err := s.store.DNCList(r.Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.DNCRecord{}
	}
	resp := map[string]any{"entries": list}
	if len(list) == f.Limit {
		last := list[len(list)-1]
		resp["next_cursor"] = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s|%s", last.CreatedAt.UTC().Format(time.RFC3339Nano), last.Phone))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
