package web

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestUploadsBounds: a user keeps at most maxPendingUploads spooled files
// (the oldest goes, its file removed), an expired upload is gone with its
// file, and an upload is only its user's, in its campaign.
func TestUploadsBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	us := newUploads()
	dir := t.TempDir()
	spooled := func(n int, userID int64, expires time.Time) *upload {
		path := filepath.Join(dir, strconv.Itoa(n))
		if err := os.WriteFile(path, []byte("phone\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		u := &upload{token: "t" + strconv.Itoa(n), userID: userID, campaignID: 1, path: path, expires: expires}
		us.put(u, now)
		return u
	}
	exists := func(u *upload) bool { _, err := os.Stat(u.path); return err == nil }
	var mine []*upload
	for i := range maxPendingUploads + 1 {
		mine = append(mine, spooled(i, 7, now.Add(time.Duration(i+1)*time.Minute)))
	}
	if us.get(mine[0].token, 7, 1, now) != nil || exists(mine[0]) {
		t.Error("the oldest upload beyond the bound is still there")
	}
	for _, u := range mine[1:] {
		if us.get(u.token, 7, 1, now) == nil || !exists(u) {
			t.Errorf("upload %s is gone", u.token)
		}
	}
	last := mine[len(mine)-1]
	if us.get(last.token, 8, 1, now) != nil || us.get(last.token, 7, 2, now) != nil {
		t.Error("an upload is given to another user or campaign")
	}
	if us.get(mine[1].token, 7, 1, now.Add(time.Hour)) != nil || exists(mine[1]) {
		t.Error("an expired upload is still there")
	}
	us.removeAll()
	if exists(last) {
		t.Error("removeAll left a file")
	}
}
