package intake

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchList is n rows shaped like an ordinary CRM export: a US number in
// national format, names, company and e-mail. name is the first name's
// prefix, to put non-ASCII text in every row.
func benchList(n int, name string) []byte {
	var b bytes.Buffer
	b.WriteString("phone,first_name,last_name,company,email\n")
	areas := []int{212, 213, 312, 415, 617, 646, 718, 202, 305, 404}
	for i := range n {
		area, exch, line := areas[i%len(areas)], 201+(i/len(areas)/10000)%700, (i/len(areas))%10000
		fmt.Fprintf(&b, "(%d) %03d-%04d,%s%d,Last%d,Company %d,lead%d@example.com\n", area, exch, line, name, i, i, i%977, i)
	}
	return b.Bytes()
}

// BenchmarkCSV reads a 100k-row list (charset detection, record
// splitting, field parsing, checks), reporting rows/s: all ASCII, UTF-8
// with an accented name in every row, and the same in Windows-1252
// (detected and decoded).
func BenchmarkCSV(b *testing.B) {
	const rows = 100_000
	for _, bc := range []struct{ name, first, charset string }{
		{"ascii", "First", "utf-8"},
		{"utf-8", "José", "utf-8"},
		{"windows-1252", "Jos\xe9", "windows-1252"},
	} {
		src := benchList(rows, bc.first)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := NewCSV(bytes.NewReader(src), "")
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := c.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != rows || c.Charset() != bc.charset {
					b.Fatalf("%d rows, %s", n, c.Charset())
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkBuild builds one lead from a typical row, with the fast phone
// path and, for comparison in the same run, with libphonenumber alone
// (/libphonenumber). The destinations case adds the number type and
// country check.
func BenchmarkBuild(b *testing.B) {
	values := map[string]string{"phone": "(212) 555-0123", "first_name": "Ann", "last_name": "Lee",
		"company": "Acme", "email": "ann@example.com", "utm_source": "google"}
	d := DefaultDestinations("US")
	for _, bc := range []struct {
		name string
		o    BuildOptions
	}{
		{"plain", BuildOptions{Country: "US"}},
		{"destinations", BuildOptions{Country: "US", Destinations: &d}},
	} {
		for _, ref := range []bool{false, true} {
			name := bc.name
			if ref {
				name += "/libphonenumber"
			}
			b.Run(name, func(b *testing.B) {
				useFastPhone(b, !ref)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := BuildWith(values, bc.o); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// useFastPhone turns the fast phone path on or off for one benchmark.
func useFastPhone(b *testing.B, on bool) {
	old := fastPhone
	fastPhone = on
	b.Cleanup(func() { fastPhone = old })
}

// BenchmarkNormalizePhone normalises numbers as a US list holds them
// (national, +1, 1-, dotted), with the fast path and with libphonenumber
// alone.
func BenchmarkNormalizePhone(b *testing.B) {
	raws := []string{"(212) 555-0123", "+1 415 555 0199", "1-312-555-0142", "617.555.0100", "+44 20 7946 0958", "8 (916) 123-45-67"}
	countries := []string{"US", "US", "US", "US", "US", "RU"}
	for _, bc := range []struct {
		name string
		fast bool
	}{{"fast", true}, {"libphonenumber", false}} {
		b.Run(bc.name, func(b *testing.B) {
			useFastPhone(b, bc.fast)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := NormalizePhone(raws[i], countries[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(raws) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "numbers/s")
		})
	}
}
