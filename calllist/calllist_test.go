package calllist_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/qualdial/qualdial/calllist"
	"github.com/qualdial/qualdial/intake"
	"github.com/qualdial/qualdial/store"
)

func TestParseMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{"Handy:phone, Vorname : first_name", map[string]string{"Handy": "phone", "Vorname": "first_name"}, ""},
		{"Handy:mobile", map[string]string{"Handy": "mobile"}, ""},
		{"Handy", nil, "use column:field pairs"},
		{"Handy:phone,Handy:mobile", nil, `the column "Handy" is mapped twice`},
		{"Farbe:colour", nil, `"colour" is not a lead field`},
		{strings.Repeat("x", intake.MaxAttributeNameLen+1) + ":phone", nil, "longer than"},
		{"a:phone\x00", nil, "mapping"},
	} {
		got, err := calllist.ParseMapping(tc.in)
		var fe intake.Errors
		switch {
		case tc.err == "" && (err != nil || !maps.Equal(got, tc.want)):
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (!errors.As(err, &fe) || fe[0].Field != "mapping" || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want a mapping error with %q", tc.in, err, tc.err)
		}
	}
}

// TestOpenChecksTheHeader: a file that cannot be imported at all is
// refused before an import starts, with field errors.
func TestOpenChecksTheHeader(t *testing.T) {
	t.Parallel()
	c := &store.Campaign{ID: 1, DefaultCountry: "US"}
	for _, tc := range []struct {
		file string
		o    calllist.Options
		err  string
	}{
		{"name,city\nAnn,Berlin\n", calllist.Options{}, "file: no phone column"},
		{"Handy,name\n+12125550101,Ann\n", calllist.Options{Mapping: map[string]string{"Handy": "phone", "Tel": "phone"}}, `mapping: the file has no column "Tel"`},
		{"phone,mobile\n+12125550101,+12125550102\n", calllist.Options{Ignore: []string{"phone", "mobile"}}, "file: no phone column"},
		{"", calllist.Options{}, "file: the file is empty"},
		{"phone\n", calllist.Options{Charset: "ebcdic"}, "file: charset"},
	} {
		_, err := calllist.Open(c, tc.o, strings.NewReader(tc.file))
		var fe intake.Errors
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q %+v: %v, want %q", tc.file, tc.o, err, tc.err)
		}
	}
	if _, err := calllist.Open(c, calllist.Options{Mapping: map[string]string{"Handy": "phone"}}, strings.NewReader("Handy\n+12125550101\n")); err != nil {
		t.Errorf("a mapped phone column: %v", err)
	}
	if err := calllist.CheckCharset("windows-1252"); err != nil {
		t.Errorf("windows-1252: %v", err)
	}
}
