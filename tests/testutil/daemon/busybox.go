package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
)

// LoadBusybox loads the busybox image (built from the host's
// busybox-static) into the daemon under tag with `docker load`.
func (d *Daemon) LoadBusybox(tag string) error {
	dir, err := os.MkdirTemp("", "hbx-busybox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "busybox.tar")
	if err := busybox.SaveDockerArchive(archive, tag); err != nil {
		return err
	}
	res := d.Run("load", "-i", archive)
	if res.Error != nil || !strings.Contains(res.Stdout(), "Loaded image: "+tag) {
		return fmt.Errorf("docker load: %s", res.String())
	}
	return nil
}
