package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOneClock: no SQL in qualdial's code takes the time from the database
// (now(), clock_timestamp(), current_timestamp…). Every stored time and
// cutoff comes from the store's clock, passed as a parameter; mixing the
// two clocks is what made tests fail before 10:00 New York time.
func TestOneClock(t *testing.T) {
	t.Parallel()
	dbClock := regexp.MustCompile(`(?i)\b(now\(\)|clock_timestamp\(\)|statement_timestamp\(\)|transaction_timestamp\(\)|current_timestamp|current_date|localtimestamp)`)
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if ok && lit.Kind == token.STRING && dbClock.MatchString(lit.Value) && looksLikeSQL(lit.Value) {
				t.Errorf("%s: SQL takes the time from the database: %s", fset.Position(lit.Pos()), dbClock.FindString(lit.Value))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files: is the walk rooted right?", checked)
	}
}

var sqlWords = regexp.MustCompile(`(?i)\b(SELECT|UPDATE|INSERT|DELETE|WHERE|SET)\b`)

func looksLikeSQL(s string) bool { return sqlWords.MatchString(s) }
