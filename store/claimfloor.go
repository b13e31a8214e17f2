package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// claimFloorTTL is how long a claim floor is trusted: at least this often a
// claim starts from the most urgent end of the open leads again, which finds
// a lead another process opened below the floor.
const claimFloorTTL = time.Second

// claimFloor is where the open leads started when a claim last looked: the
// deadline and id of the first one. The zero floor is the top.
type claimFloor struct {
	due time.Time
	id  int64
}

func (f claimFloor) after(g claimFloor) bool {
	return f.due.After(g.due) || (f.due.Equal(g.due) && f.id > g.id)
}

// claimFloors are a database's claim floors, one per campaign filter (0:
// any campaign), shared by the stores of one process on that database (the
// API's and the workers'), so that a lead one of them opens is seen by the
// other's next claim.
type claimFloors struct {
	mu     sync.Mutex
	gen    uint64 // bumped by reset: a claim that began before may not set a floor
	floors map[int64]floorEntry
}

type floorEntry struct {
	floor claimFloor
	top   time.Time // when a claim last started from the top
}

var claimFloorsByDB sync.Map // database → *claimFloors

func floorsFor(pool *pgxpool.Pool) *claimFloors {
	if pool == nil {
		return &claimFloors{}
	}
	cc := pool.Config().ConnConfig
	f, _ := claimFloorsByDB.LoadOrStore(fmt.Sprintf("%s:%d/%s", cc.Host, cc.Port, cc.Database), &claimFloors{})
	return f.(*claimFloors)
}

// get returns the floor of a campaign filter, ok false when a claim must
// start from the top, and the generation to hand back to set.
func (fs *claimFloors) get(campaignID int64) (f claimFloor, ok bool, gen uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	e, ok := fs.floors[campaignID]
	if !ok || time.Since(e.top) >= claimFloorTTL {
		return claimFloor{}, false, fs.gen
	}
	return e.floor, true, fs.gen
}

// set records the floor a claim read, unless a reset came since the claim
// began (its snapshot may miss the lead that was opened). A claim from the
// top sets it as read; one from a floor only raises it.
func (fs *claimFloors) set(campaignID int64, f claimFloor, fromTop bool, gen uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if gen != fs.gen || f.id == 0 {
		return
	}
	e, ok := fs.floors[campaignID]
	switch {
	case fromTop:
		e = floorEntry{floor: f, top: time.Now()}
	case !ok:
		return
	case f.after(e.floor):
		e.floor = f
	}
	if fs.floors == nil {
		fs.floors = map[int64]floorEntry{}
	}
	fs.floors[campaignID] = e
}

// reset drops every floor: a lead may have become open below one.
func (fs *claimFloors) reset() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.gen++
	clear(fs.floors)
}
