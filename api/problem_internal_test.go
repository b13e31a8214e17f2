package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestDatabaseUnavailable: only the database's failures answer 503; a
// file the server cannot write is an internal error, not "retry later".
func TestDatabaseUnavailable(t *testing.T) {
	_, fileErr := os.CreateTemp("/proc/no-such-dir", "x")
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "55P03"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{fmt.Errorf("query: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset")}), true},
		{fmt.Errorf("q: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("spool upload: %w", fileErr), false},
		{errors.New("boom"), false},
	} {
		if got := databaseUnavailable(tc.err); got != tc.want {
			t.Errorf("databaseUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
