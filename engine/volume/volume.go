// Package volume is the local volume driver: each volume is a directory
// under one root, holding the data directory that containers mount and a
// metadata file (labels, options, creation time). The store also keeps the
// references (container IDs) that make a volume "in use"; they live in
// memory and are rebuilt from the containers when the daemon starts.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
)

// DriverName is the only driver there is: directories on the daemon's disk.
const DriverName = "local"

const (
	// dataDir is the directory inside a volume that containers mount.
	dataDir = "_data"
	// metaFile holds a volume's metadata, next to dataDir.
	metaFile = "volume.json"
)

// namePattern is what a volume name may be: it becomes a directory name,
// so no '/', no leading '.' or '-', at least two characters.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidName reports whether name can name a volume.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// NewName returns a random name for an anonymous volume (64 hex digits).
func NewName() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Volume describes one volume.
type Volume struct {
	Name   string
	Driver string
	// Mountpoint is the data directory containers mount.
	Mountpoint string
	CreatedAt  time.Time
	// Labels and Options are kept as given (nil stays nil).
	Labels  map[string]string
	Options map[string]string
}

// CreateOptions describe a new volume.
type CreateOptions struct {
	Labels map[string]string
	// Options are driver options (mount.go): a filesystem to mount on the
	// data directory while containers use the volume.
	Options map[string]string
}

// meta is what metaFile holds.
type meta struct {
	Name      string
	CreatedAt time.Time
	Labels    map[string]string
	Options   map[string]string
}

// InUseError refuses to remove a volume that containers reference.
type InUseError struct {
	Name string
	// Refs are the referencing container IDs, sorted.
	Refs []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("volume %s is in use by %s", e.Name, strings.Join(e.Refs, ", "))
}

// Unwrap makes the error a Conflict.
func (e *InUseError) Unwrap() error { return errdefs.ErrConflict }

// Store is the set of local volumes under one root directory.
type Store struct {
	root string

	mu   sync.Mutex
	vols map[string]*meta
	refs map[string]map[string]struct{}
	// active counts the Mounts of volumes with a device; mounted says
	// whose device is mounted on the data directory (mount.go).
	active  map[string]int
	mounted map[string]bool
}

// New opens (creating it if needed) the volume root and loads the volumes
// found there. A directory with a data directory but no metadata (left by
// a crash during create) counts as a volume without labels.
func New(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	s := &Store{root: root, vols: map[string]*meta{}, refs: map[string]map[string]struct{}{},
		active: map[string]int{}, mounted: map[string]bool{}}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, ent := range entries {
		if strings.HasPrefix(ent.Name(), ".removing-") {
			// A removal the daemon did not finish.
			_ = os.RemoveAll(filepath.Join(root, ent.Name()))
			continue
		}
		if !ent.IsDir() || !ValidName(ent.Name()) {
			continue
		}
		m, err := s.load(ent.Name())
		if err != nil {
			continue // not a volume
		}
		s.vols[m.Name] = m
		if needsMount(m) && isMountpoint(s.dataDir(m.Name)) {
			s.mounted[m.Name] = true // by a daemon that stopped meanwhile
		}
	}
	return s, nil
}

func (s *Store) dir(name string) string     { return filepath.Join(s.root, name) }
func (s *Store) dataDir(name string) string { return filepath.Join(s.root, name, dataDir) }

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// load reads one volume's metadata.
func (s *Store) load(name string) (*meta, error) {
	data, err := os.ReadFile(filepath.Join(s.dir(name), metaFile))
	if err == nil {
		m := &meta{}
		if err := json.Unmarshal(data, m); err != nil {
			return nil, fmt.Errorf("volume %s: bad metadata: %w", name, err)
		}
		m.Name = name
		return m, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fi, err := os.Stat(filepath.Join(s.dir(name), dataDir))
	if err != nil {
		return nil, err
	}
	return &meta{Name: name, CreatedAt: fi.ModTime().UTC()}, nil
}

func (s *Store) volume(m *meta) Volume {
	return Volume{Name: m.Name, Driver: DriverName, Mountpoint: filepath.Join(s.dir(m.Name), dataDir),
		CreatedAt: m.CreatedAt, Labels: maps.Clone(m.Labels), Options: maps.Clone(m.Options)}
}

func notFound(name string) error {
	return fmt.Errorf("volume %s: %w", name, errdefs.ErrNotFound)
}

// Create creates volume name (a generated name when empty) or, when it
// exists, returns it unchanged (created is false). A non-empty ref is
// recorded as a reference in the same step, so the volume cannot be
// removed in between. Options are checked by ValidateOptions; a volume with
// a device is not mounted until Mount. Errors: InvalidArgument (name,
// options).
func (s *Store) Create(name string, opts CreateOptions, ref string) (v Volume, created bool, err error) {
	if name == "" {
		name = NewName()
	}
	if !ValidName(name) {
		return Volume{}, false, fmt.Errorf("invalid volume name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.vols[name]; ok {
		s.addRefLocked(name, ref)
		return s.volume(m), false, nil
	}
	if err := ValidateOptions(opts.Options); err != nil {
		return Volume{}, false, err
	}
	m := &meta{Name: name, CreatedAt: time.Now().UTC().Truncate(time.Second), Labels: maps.Clone(opts.Labels), Options: maps.Clone(opts.Options)}
	if err := s.write(m); err != nil {
		os.RemoveAll(s.dir(name))
		return Volume{}, false, err
	}
	s.vols[name] = m
	s.addRefLocked(name, ref)
	return s.volume(m), true, nil
}

// write creates the volume's directories and writes its metadata
// atomically.
func (s *Store) write(m *meta) error {
	d := s.dir(m.Name)
	if err := os.MkdirAll(d, 0o701); err != nil {
		return fmt.Errorf("create volume directory: %w", err)
	}
	if err := os.Mkdir(filepath.Join(d, dataDir), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create volume data directory: %w", err)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(d, metaFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d, metaFile))
}

// Get returns volume name. Errors: NotFound.
func (s *Store) Get(name string) (Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.vols[name]
	if !ok {
		return Volume{}, notFound(name)
	}
	return s.volume(m), nil
}

// List returns every volume, by name.
func (s *Store) List() []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.vols))
	for _, m := range s.vols {
		out = append(out, s.volume(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove deletes volume name and its data. Errors: NotFound, Conflict
// (*InUseError: it has references).
func (s *Store) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return notFound(name)
	}
	if refs := s.refsLocked(name); len(refs) > 0 {
		return &InUseError{Name: name, Refs: refs}
	}
	if err := s.unmountLocked(name); err != nil {
		return err
	}
	// Never delete through a mount: that would delete what is mounted.
	if isMountpoint(s.dataDir(name)) {
		return fmt.Errorf("remove volume %s: %s is still a mount point", name, s.dataDir(name))
	}
	// Out of sight first, so a failed removal leaves no half volume
	// behind under its name.
	d := s.dir(name)
	gone := filepath.Join(s.root, ".removing-"+name)
	if err := os.Rename(d, gone); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	delete(s.vols, name)
	delete(s.refs, name)
	delete(s.active, name)
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// AddRef records that ref (a container ID) uses volume name.
// Errors: NotFound.
func (s *Store) AddRef(name, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return notFound(name)
	}
	s.addRefLocked(name, ref)
	return nil
}

func (s *Store) addRefLocked(name, ref string) {
	if ref == "" {
		return
	}
	if s.refs[name] == nil {
		s.refs[name] = map[string]struct{}{}
	}
	s.refs[name][ref] = struct{}{}
}

// Release drops ref's reference to volume name (if any).
func (s *Store) Release(name, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refs[name], ref)
	if len(s.refs[name]) == 0 {
		delete(s.refs, name)
	}
}

// Refs returns the references to volume name, sorted.
func (s *Store) Refs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refsLocked(name)
}

func (s *Store) refsLocked(name string) []string {
	refs := slices.Collect(maps.Keys(s.refs[name]))
	sort.Strings(refs)
	return refs
}

// Size is the bytes of the files in volume name's data directory, each
// hard-linked file counted once (what removing it frees). Errors: NotFound.
func (s *Store) Size(name string) (int64, error) {
	v, err := s.Get(name)
	if err != nil {
		return 0, err
	}
	return dirSize(v.Mountpoint)
}

func dirSize(dir string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += fi.Size()
		return nil
	})
	return size, err
}
