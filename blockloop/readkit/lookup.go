package readkit

import (
	"io/fs"
	"path"
	"strings"
	"sync"
)

// Node is what the kit calls of a reader's directory entry (iso9660.Entry,
// udf.Entry, fat.Entry, exfat.Entry...).
type Node[E any] interface {
	IsDir() bool
	Entries() ([]E, error)
	Child(name string) (E, error)
}

// Lookup finds the entry at slash-separated path p from root ("" and "/"
// are the root), at most maxDepth names deep, as reader format. Symbolic
// links are not followed. A missing name matches fs.ErrNotExist, a file
// where a directory should be [ErrNotDir], both in an *fs.PathError;
// too deep a path is a *LimitError of the limit "MaxDepth".
func Lookup[E Node[E]](format string, root E, p string, maxDepth int) (E, error) {
	e := root
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return e, nil
	}
	parts := strings.Split(p, "/")
	if len(parts) > maxDepth {
		var zero E
		return zero, OverLimit(format, 0, "MaxDepth", int64(len(parts)), int64(maxDepth))
	}
	for _, name := range parts {
		if !e.IsDir() {
			var zero E
			return zero, &fs.PathError{Op: "lookup", Path: p, Err: ErrNotDir}
		}
		c, err := e.Child(name)
		if err != nil {
			var zero E
			return zero, &fs.PathError{Op: "lookup", Path: p, Err: err}
		}
		e = c
	}
	return e, nil
}

// Listing is a directory's entries, read once and cached, and its lookup
// table (names, or a reader's folded keys). Safe for concurrent use; the
// zero value is ready.
type Listing[E any] struct {
	mu      sync.Mutex
	listed  bool
	entries []E
	byKey   map[string]E
	err     error
}

// Entries are the entries list returns, called on the first use only.
func (l *Listing[E]) Entries(list func() ([]E, map[string]E, error)) ([]E, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.listed {
		l.entries, l.byKey, l.err = list()
		l.listed = true
	}
	return l.entries, l.err
}

// Find is the entry of key, listed by Entries before; the error matches
// fs.ErrNotExist when there is none.
func (l *Listing[E]) Find(key string) (E, error) {
	l.mu.Lock()
	c, ok := l.byKey[key]
	l.mu.Unlock()
	if !ok {
		return c, fs.ErrNotExist
	}
	return c, nil
}

// ByName is the lookup table of entries by name.
func ByName[E any](entries []E, name func(E) string) map[string]E {
	m := make(map[string]E, len(entries))
	for _, e := range entries {
		m[name(e)] = e
	}
	return m
}
