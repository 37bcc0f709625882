package geo

import (
	"sync"

	"github.com/paulmach/orb"
	"github.com/tidwall/rtree"
)

// Index is a live spatial index of entities by ID, each with a point ([lon, lat]) and a value: Set
// inserts or moves, Remove deletes, Search walks a bounding box. It is safe for concurrent use;
// Search holds a read lock while it calls fn, so fn must not call Set or Remove.
type Index[T any] struct {
	mu   sync.RWMutex // guards tree, byID
	tree rtree.RTreeG[*entry[T]]
	byID map[string]*entry[T]
}

type entry[T any] struct {
	id string
	p  orb.Point
	v  T
}

// NewIndex returns an empty index.
func NewIndex[T any]() *Index[T] { return &Index[T]{byID: map[string]*entry[T]{}} }

// Set puts id at p with value v and returns its previous point and value, if it had one.
func (x *Index[T]) Set(id string, p orb.Point, v T) (prev orb.Point, old T, had bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byID[id]
	if e == nil {
		e = &entry[T]{id: id, p: p, v: v}
		x.byID[id] = e
		x.tree.Insert(p, p, e)
		return prev, old, false
	}
	prev, old = e.p, e.v
	if p != e.p {
		x.tree.Delete(e.p, e.p, e)
		e.p = p
		x.tree.Insert(p, p, e)
	}
	e.v = v
	return prev, old, true
}

// Remove deletes id and returns its point and value, if it was there.
func (x *Index[T]) Remove(id string) (orb.Point, T, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byID[id]
	if e == nil {
		var zero T
		return orb.Point{}, zero, false
	}
	x.tree.Delete(e.p, e.p, e)
	delete(x.byID, id)
	return e.p, e.v, true
}

// Get returns id's point and value.
func (x *Index[T]) Get(id string) (orb.Point, T, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := x.byID[id]
	if e == nil {
		var zero T
		return orb.Point{}, zero, false
	}
	return e.p, e.v, true
}

// Len is the number of entities.
func (x *Index[T]) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// Search calls fn for every entity in b (edges included) until fn returns false.
func (x *Index[T]) Search(b orb.Bound, fn func(id string, p orb.Point, v T) bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.tree.Search(b.Min, b.Max, func(_, _ [2]float64, e *entry[T]) bool { return fn(e.id, e.p, e.v) })
}

// Query appends the IDs of the entities in b to dst and returns it.
func (x *Index[T]) Query(b orb.Bound, dst []string) []string {
	x.Search(b, func(id string, _ orb.Point, _ T) bool {
		dst = append(dst, id)
		return true
	})
	return dst
}
