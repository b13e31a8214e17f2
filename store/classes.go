package store

import (
	"context"
	"crypto/sha256"
	"slices"
	"sync"

	"github.com/qualdial/qualdial/ivr"
)

// classCache remembers the classes of parsed scripts, by the YAML's hash.
var classCache = struct {
	sync.Mutex
	m map[[32]byte][]string
}{m: map[[32]byte][]string{}}

// CampaignClasses lists the classes leads may have, sorted: those of the
// campaign's script (0: of every campaign's), and the reserved opted_out
// and incomplete. For checking a class a filter names.
func (s *Store) CampaignClasses(ctx context.Context, campaignID int64) ([]string, error) {
	yamls, err := s.CampaignScripts(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	set := []string{ivr.ClassIncomplete, ivr.ClassOptedOut}
	for _, y := range yamls {
		sum := sha256.Sum256([]byte(y))
		classCache.Lock()
		names, ok := classCache.m[sum]
		classCache.Unlock()
		if !ok {
			if sc, _ := ivr.Parse("script.yaml", []byte(y)); sc != nil {
				for _, cl := range sc.Classes {
					names = append(names, cl.Name)
				}
			}
			classCache.Lock()
			if len(classCache.m) > 1000 {
				clear(classCache.m)
			}
			classCache.m[sum] = names
			classCache.Unlock()
		}
		set = append(set, names...)
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}
