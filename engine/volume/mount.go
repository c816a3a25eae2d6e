package volume

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Options of the local driver: a filesystem to mount on the volume's data
// directory while containers use it, as mount(8) takes them.
const (
	OptType   = "type"   // filesystem type ("none" for a bind, "tmpfs", "nfs", "ext4", ...)
	OptDevice = "device" // what to mount (a path, "tmpfs", ":/export", ...)
	OptOpts   = "o"      // comma-separated mount options ("bind", "size=64m", "addr=...")
	OptSize   = "size"   // a quota (needs a filesystem with project quotas)
)

// OptionError is an invalid set of driver options.
type OptionError struct {
	// Unknown is an option the driver does not know.
	Unknown string
	// Missing is an option another one needs.
	Missing string
	// Quota is set when a size quota was asked for.
	Quota bool
}

func (e *OptionError) Error() string {
	switch {
	case e.Unknown != "":
		return fmt.Sprintf("unknown volume option %q", e.Unknown)
	case e.Missing != "":
		return fmt.Sprintf("missing volume option %q", e.Missing)
	}
	return "volume size quotas are not supported"
}

// Unwrap makes the error an InvalidArgument.
func (e *OptionError) Unwrap() error { return errdefs.ErrInvalidArgument }

// ValidateOptions checks local driver options as dockerd does: known keys
// only, device and type together, o only with both. Quotas (size) need
// project quotas, which this driver does not set up.
func ValidateOptions(opts map[string]string) error {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case OptType, OptDevice, OptOpts, OptSize:
		default:
			return &OptionError{Unknown: k}
		}
	}
	if _, ok := opts[OptSize]; ok {
		return &OptionError{Quota: true}
	}
	need := []struct{ opt, needs string }{{OptDevice, OptType}, {OptType, OptDevice}, {OptOpts, OptDevice}, {OptOpts, OptType}}
	for _, n := range need {
		if _, ok := opts[n.opt]; !ok {
			continue
		}
		if _, ok := opts[n.needs]; !ok {
			return &OptionError{Missing: n.needs}
		}
	}
	return nil
}

// needsMount reports whether the volume is a filesystem mounted on its data
// directory rather than the directory itself.
func needsMount(m *meta) bool { return m.Options[OptDevice] != "" || m.Options[OptType] != "" }

// Mount makes volume name's data ready for a container and returns the
// directory to bind: a volume with a device is mounted on its data
// directory by the first Mount and stays mounted until the last Unmount.
// Errors: NotFound, and the mount's.
func (s *Store) Mount(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.vols[name]
	if !ok {
		return "", notFound(name)
	}
	data := s.dataDir(name)
	if !needsMount(m) {
		return data, nil
	}
	if s.active[name] == 0 && !s.mounted[name] {
		mnt := mount.Mount{Type: m.Options[OptType], Source: m.Options[OptDevice]}
		if o := m.Options[OptOpts]; o != "" {
			mnt.Options = strings.Split(o, ",")
		}
		if err := mnt.Mount(data); err != nil {
			return "", fmt.Errorf("failed to mount local volume: mount %s:%s, type %s: %w", mnt.Source, data, mnt.Type, err)
		}
		s.mounted[name] = true
	}
	s.active[name]++
	return data, nil
}

// Unmount ends one Mount; the last one unmounts the volume's filesystem.
func (s *Store) Unmount(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[name] > 0 {
		s.active[name]--
	}
	if s.active[name] > 0 {
		return nil
	}
	delete(s.active, name)
	return s.unmountLocked(name)
}

func (s *Store) unmountLocked(name string) error {
	if !s.mounted[name] {
		return nil
	}
	if err := mount.Unmount(s.dataDir(name), unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount volume %s: %w", name, err)
	}
	delete(s.mounted, name)
	return nil
}

// RestoreMount counts a Mount made before the daemon restarted, for a
// container still running.
func (s *Store) RestoreMount(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.vols[name]; ok && needsMount(m) {
		s.active[name]++
	}
}

// UnmountIdle unmounts the volumes left mounted (found so at New) that no
// restored Mount uses, after a daemon restart.
func (s *Store) UnmountIdle() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name := range s.mounted {
		if s.active[name] == 0 {
			if err := s.unmountLocked(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// isMountpoint reports whether something is mounted on dir (or whether
// that cannot be told).
func isMountpoint(dir string) bool {
	mounted, err := mountinfo.Mounted(dir)
	return mounted || err != nil && !isNotExist(err)
}
