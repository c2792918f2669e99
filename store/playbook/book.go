package playbook

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed entries/*.sql
var builtin embed.FS

// BuiltIn is the Source of the embedded entries.
const BuiltIn = "built-in"

// ErrUnknownEntry is returned for a name the playbook does not have.
var ErrUnknownEntry = errors.New("unknown playbook entry")

// Book is the playbook: the built-in entries and those of a directory.
type Book struct {
	entries map[string]*Entry
}

// Load reads the built-in entries, then every *.sql file of dir (when dir
// is not empty), which adds entries or overrides built-in ones by name.
func Load(dir string) (*Book, error) {
	b := &Book{entries: map[string]*Entry{}}
	if err := b.addFS(builtin, "entries", BuiltIn); err != nil {
		return nil, err
	}
	if dir == "" {
		return b, nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("playbook directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("playbook directory %s is not a directory", dir)
	}
	return b, b.addFS(os.DirFS(dir), ".", dir)
}

func (b *Book) addFS(fsys fs.FS, root, source string) error {
	files, err := fs.Glob(fsys, path.Join(root, "*.sql"))
	if err != nil {
		return fmt.Errorf("list playbook entries: %w", err)
	}
	for _, f := range files {
		text, err := fs.ReadFile(fsys, f)
		if err != nil {
			return fmt.Errorf("read playbook entry: %w", err)
		}
		src := source + ":" + path.Base(f)
		if source != BuiltIn {
			src = filepath.Join(source, path.Base(f))
		}
		e, err := parseEntry(strings.TrimSuffix(path.Base(f), ".sql"), src, string(text))
		if err != nil {
			return err
		}
		if source == BuiltIn {
			e.Source = BuiltIn
		}
		b.entries[e.Name] = e
	}
	return nil
}

// Entries returns every entry, by name.
func (b *Book) Entries() []*Entry {
	out := make([]*Entry, 0, len(b.entries))
	for _, name := range slices.Sorted(maps.Keys(b.entries)) {
		out = append(out, b.entries[name])
	}
	return out
}

// Get returns the entry called name, or an error wrapping ErrUnknownEntry.
func (b *Book) Get(name string) (*Entry, error) {
	if e, ok := b.entries[name]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("%w %q; tally playbook list shows them", ErrUnknownEntry, name)
}
