package csvdownload_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/qualdial/qualdial/internal/csvdownload"
)

func TestCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                     "",
		"Acme":                 "Acme",
		"+12125550101":         "+12125550101", // a plain number: left alone
		"-10":                  "-10",
		"=1+2":                 "'=1+2",
		"+1+cmd|' /C calc'!A0": "'+1+cmd|' /C calc'!A0",
		"@SUM(A1)":             "'@SUM(A1)",
		"\t=1":                 "'\t=1",
		`=HYPERLINK("x","y")`:  `'=HYPERLINK("x","y")`,
		"2026-12-02 08:00 UTC": "2026-12-02 08:00 UTC",
	} {
		if got := csvdownload.Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestText: a value kept as text gets the apostrophe even when it is a
// plain number, and a row leaves it as it is.
func TestText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"+12125550101": "'+12125550101", "12125550101": "12125550101", "=1": "'=1", "": ""} {
		if got := csvdownload.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
		if got := csvdownload.Cell(csvdownload.Text(in)); got != want {
			t.Errorf("Cell(Text(%q)) = %q, want %q", in, got, want)
		}
	}
}

// TestBOM: a download starts with the BOM only when asked, once.
func TestBOM(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, bom := range []bool{false, true} {
		w := httptest.NewRecorder()
		out := csvdownload.New(w, "x.csv", log)
		if bom {
			out = out.WithBOM()
		}
		for _, row := range [][]string{{"name", "phone"}, {"Zoë", "+12125550101"}} {
			if err := out.Row(row...); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Finish(nil); err != nil {
			t.Fatal(err)
		}
		want := "name,phone\nZoë,+12125550101\n"
		if bom {
			want = "\uFEFF" + want
		}
		if got := w.Body.String(); got != want {
			t.Errorf("bom %v: %q, want %q", bom, got, want)
		}
		if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="x.csv"` {
			t.Errorf("Content-Disposition %q", cd)
		}
	}
}
