// Command hyperbox-shim stands in front of containerd-shim-runc-v2 as the
// runtime binary of hyperboxd's containers (engine/spec.go).
//
// containerd runs the shim binary's `start` command for every task it
// creates, even when the task joins a grouped shim that already runs: the
// command only finds that shim's socket and prints how to reach it. Go's
// start-up in the 20 MB shim binary is most of that command's time. This
// small static program answers `start` for a shim it has seen before
// (its reply is kept next to containerd's socket) after checking that the
// shim still listens. Everything else, and any start it cannot answer,
// runs the real shim binary, found next to this one, with the same
// arguments and environment.
//
// containerd also runs the shim binary's `delete` command after every task
// it deletes (when it closes its connection to the shim). For a task the
// shim has already deleted, the command finds nothing to do: no runtime
// state, no rootfs mount, only the exit the shim recorded in the bundle.
// That case is answered here with the recorded exit; any other goes to the
// real shim.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

const (
	realShim      = "containerd-shim-runc-v2"
	groupKey      = "io.containerd.runc.v2.group"
	socketDirLink = "socket-dir" // as the runc-v2 shim names it in the bundle
)

// reply is what a real `start` printed for a group, and the socket
// directory it linked into the bundle.
type reply struct {
	Address   string `json:"address"`
	SocketDir string `json:"socketDir,omitempty"`
	Output    []byte `json:"output"`
}

func main() {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	real := filepath.Join(filepath.Dir(self), realShim)
	args := os.Args[1:]
	action := ""
	if len(args) > 0 {
		action = args[len(args)-1]
	}
	if action == "delete" && deletedAlready(args) {
		return
	}
	if action != "start" {
		fail(syscall.Exec(real, append([]string{real}, args...), os.Environ()))
	}
	stdin, err := io.ReadAll(io.LimitReader(os.Stdin, 10<<20))
	if err != nil {
		fail(err)
	}
	cache := cachePath(args)
	if cache != "" && answer(cache) {
		return
	}
	cmd := exec.Command(real, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	os.Stdout.Write(out)
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fail(err)
	}
	if cache != "" {
		remember(cache, out)
	}
}

// flagValue is the value of flag -name in args.
func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// deletedAlready answers `delete` for a task the shim has deleted: its
// runtime state is gone, its rootfs is not mounted, and its exit is
// recorded (exit.json in the bundle, as the runc-v2 shim writes it). The
// reply is the DeleteResponse the real command would print.
func deletedAlready(args []string) bool {
	ns, id := flagValue(args, "-namespace"), flagValue(args, "-id")
	bundle := flagValue(args, "-bundle")
	if bundle == "" {
		bundle, _ = os.Getwd()
	}
	if ns == "" || id == "" || bundle == "" || strings.ContainsAny(ns+id, "/\x00") {
		return false
	}
	root := "/run/containerd/runc" // the shim's default runtime root
	if data, err := os.ReadFile(filepath.Join(bundle, "options.json")); err == nil {
		var o struct {
			Root string `json:"root"`
		}
		if json.Unmarshal(data, &o) != nil {
			return false
		}
		if o.Root != "" {
			root = o.Root
		}
	}
	if _, err := os.Lstat(filepath.Join(root, ns, id)); !os.IsNotExist(err) {
		return false
	}
	if mounted(filepath.Join(bundle, "rootfs")) {
		return false
	}
	data, err := os.ReadFile(filepath.Join(bundle, "exit.json"))
	if err != nil {
		return false
	}
	var exit struct {
		Timestamp time.Time
		Pid       int
		Status    int
	}
	if json.Unmarshal(data, &exit) != nil || exit.Pid <= 0 || exit.Timestamp.IsZero() || exit.Status < 0 {
		return false
	}
	_, err = os.Stdout.Write(deleteResponse(uint32(exit.Pid), uint32(exit.Status), exit.Timestamp))
	return err == nil
}

// mounted tells whether path is a mount point (or cannot tell).
func mounted(path string) bool {
	m, err := mountinfo.Mounted(path)
	return m || err != nil
}

// deleteResponse encodes containerd's task DeleteResponse {pid = 1,
// exit_status = 2, exited_at = 3 (google.protobuf.Timestamp {seconds = 1,
// nanos = 2})} in protobuf's wire format.
func deleteResponse(pid, status uint32, at time.Time) []byte {
	varint := func(b []byte, v uint64) []byte {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		return append(b, byte(v))
	}
	var ts []byte
	if sec := at.Unix(); sec != 0 {
		ts = varint(append(ts, 1<<3), uint64(sec))
	}
	if n := at.Nanosecond(); n != 0 {
		ts = varint(append(ts, 2<<3), uint64(n))
	}
	var b []byte
	if pid != 0 {
		b = varint(append(b, 1<<3), uint64(pid))
	}
	if status != 0 {
		b = varint(append(b, 2<<3), uint64(status))
	}
	b = varint(append(b, 3<<3|2), uint64(len(ts)))
	return append(b, ts...)
}

// cachePath is where the reply for this task's group is kept: next to
// containerd's socket (-address), by namespace and group. Empty when the
// task is in no group (its shim is its own).
func cachePath(args []string) string {
	ns, address := flagValue(args, "-namespace"), flagValue(args, "-address")
	data, err := os.ReadFile("config.json") // the bundle is the working directory
	if err != nil || ns == "" || address == "" {
		return ""
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(data, &spec) != nil {
		return ""
	}
	group := spec.Annotations[groupKey]
	if group == "" || strings.ContainsAny(ns+group, "/\x00") {
		return ""
	}
	return filepath.Join(filepath.Dir(address), "hyperbox-shim."+ns+"."+group)
}

// answer replies from the cache if its shim still accepts connections.
func answer(cache string) bool {
	data, err := os.ReadFile(cache)
	if err != nil {
		return false
	}
	var r reply
	if json.Unmarshal(data, &r) != nil || len(r.Output) == 0 {
		return false
	}
	path, ok := strings.CutPrefix(r.Address, "unix://")
	if !ok {
		return false
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	if r.SocketDir != "" {
		_ = os.Remove(socketDirLink)
		if os.Symlink(r.SocketDir, socketDirLink) != nil {
			return false
		}
	}
	_, err = os.Stdout.Write(r.Output)
	return err == nil
}

// remember keeps a real start's reply for the next tasks of the group.
func remember(cache string, out []byte) {
	r := reply{Address: socketAddress(out), Output: out}
	if r.Address == "" {
		return
	}
	r.SocketDir, _ = os.Readlink(socketDirLink)
	data, err := json.Marshal(r)
	if err != nil {
		return
	}
	tmp := fmt.Sprintf("%s.%d", cache, os.Getpid())
	if os.WriteFile(tmp, data, 0o600) != nil {
		return
	}
	if os.Rename(tmp, cache) != nil {
		os.Remove(tmp)
	}
}

// socketAddress finds the shim's unix:// address in start's reply: a
// protobuf BootstrapResult (a length-delimited field holds it), or the
// older JSON or plain-text forms.
func socketAddress(out []byte) string {
	if a := protoAddress(out); a != "" {
		return a
	}
	var j struct {
		Address string `json:"address"`
	}
	if json.Unmarshal(out, &j) == nil && strings.HasPrefix(j.Address, "unix://") {
		return j.Address
	}
	if a := strings.TrimSpace(string(out)); strings.HasPrefix(a, "unix://") && !strings.ContainsAny(a, " \n\"") {
		return a
	}
	return ""
}

// protoAddress walks a protobuf message's top-level fields for a string
// that starts with unix://.
func protoAddress(b []byte) string {
	varint := func() (uint64, bool) {
		var v uint64
		for shift := uint(0); shift < 64; shift += 7 {
			if len(b) == 0 {
				return 0, false
			}
			c := b[0]
			b = b[1:]
			v |= uint64(c&0x7f) << shift
			if c < 0x80 {
				return v, true
			}
		}
		return 0, false
	}
	for len(b) > 0 {
		key, ok := varint()
		if !ok {
			return ""
		}
		switch key & 7 {
		case 0:
			if _, ok := varint(); !ok {
				return ""
			}
		case 1, 5:
			n := 8
			if key&7 == 5 {
				n = 4
			}
			if len(b) < n {
				return ""
			}
			b = b[n:]
		case 2:
			n, ok := varint()
			if !ok || n > uint64(len(b)) {
				return ""
			}
			if v := string(b[:n]); strings.HasPrefix(v, "unix://") {
				return v
			}
			b = b[n:]
		default:
			return ""
		}
	}
	return ""
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hyperbox-shim:", err)
	os.Exit(1)
}
