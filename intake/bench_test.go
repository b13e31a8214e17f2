package intake

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchList is n rows shaped like an ordinary CRM export: a US number in
// national format, names, company and e-mail.
func benchList(n int) []byte {
	var b bytes.Buffer
	b.WriteString("phone,first_name,last_name,company,email\n")
	areas := []int{212, 213, 312, 415, 617, 646, 718, 202, 305, 404}
	for i := range n {
		area, exch, line := areas[i%len(areas)], 201+(i/len(areas)/10000)%700, (i/len(areas))%10000
		fmt.Fprintf(&b, "(%d) %03d-%04d,First%d,Last%d,Company %d,lead%d@example.com\n", area, exch, line, i, i, i%977, i)
	}
	return b.Bytes()
}

// BenchmarkCSV reads a 100k-row list (encoding detection, record
// splitting, field parsing), reporting rows/s.
func BenchmarkCSV(b *testing.B) {
	const rows = 100_000
	src := benchList(rows)
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
		if n != rows {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBuild builds one lead from a typical row: phone normalisation
// with libphonenumber dominates.
func BenchmarkBuild(b *testing.B) {
	values := map[string]string{"phone": "(212) 555-0123", "first_name": "Ann", "last_name": "Lee",
		"company": "Acme", "email": "ann@example.com", "utm_source": "google"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(values, nil, "US"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
