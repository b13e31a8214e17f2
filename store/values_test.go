package store_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/qualdial/qualdial/internal/pgtest"
	"github.com/qualdial/qualdial/store"
)

// TestValuesAreTheSchemas: the typed values store owns are exactly those
// the schema's CHECK constraints allow.
func TestValuesAreTheSchemas(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	allowed := func(table, column string) []string {
		t.Helper()
		var def string
		err := db.QueryRow(context.Background(), `SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
			WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND a.attname = $2 AND cardinality(c.conkey) = 1`, table, column).Scan(&def)
		if err != nil {
			t.Fatalf("%s.%s: %v", table, column, err)
		}
		var out []string
		for _, m := range regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(def, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	sorted := func(v []string) []string { slices.Sort(v); return v }
	for _, tc := range []struct {
		table, column string
		values        []string
	}{
		{"leads", "status", strs(store.LeadStatuses)},
		{"leads", "sales_stage", strs(store.SalesStages)},
		{"campaigns", "status", strs(store.CampaignStatuses)},
		{"campaigns", "driver", []string{string(store.DriverSIP), string(store.DriverTwilio)}},
	} {
		if got, want := allowed(tc.table, tc.column), sorted(tc.values); !slices.Equal(got, want) {
			t.Errorf("%s.%s: the schema allows %v, store has %v", tc.table, tc.column, got, want)
		}
	}
}

func strs[T ~string](v []T) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = string(s)
	}
	return out
}
