package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/runtime/task/v2"
	"google.golang.org/protobuf/proto"
)

func TestSocketAddress(t *testing.T) {
	long := "unix:///run/containerd/s/" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, addr := range []string{"unix:///run/containerd/s/8c7f", long} {
		out, err := proto.Marshal(&bootapi.BootstrapResult{Version: 3, Address: addr, Protocol: "ttrpc"})
		if err != nil {
			t.Fatal(err)
		}
		if got := socketAddress(out); got != addr {
			t.Errorf("protobuf reply: got %q, want %q", got, addr)
		}
	}
	if got := socketAddress([]byte(`{"version":2,"address":"unix:///run/x","protocol":"ttrpc"}`)); got != "unix:///run/x" {
		t.Errorf("JSON reply: got %q", got)
	}
	if got := socketAddress([]byte("unix:///run/y\n")); got != "unix:///run/y" {
		t.Errorf("plain reply: got %q", got)
	}
	if got := socketAddress([]byte("garbage")); got != "" {
		t.Errorf("garbage: got %q", got)
	}
}

func TestDeleteResponse(t *testing.T) {
	at := time.Date(2026, 11, 22, 20, 5, 34, 123456789, time.UTC)
	var got task.DeleteResponse
	if err := proto.Unmarshal(deleteResponse(4242, 137, at), &got); err != nil {
		t.Fatal(err)
	}
	if got.Pid != 4242 || got.ExitStatus != 137 || !got.ExitedAt.AsTime().Equal(at) {
		t.Fatalf("decoded %v", &got)
	}
}

// A bundle whose task the shim deleted is answered from exit.json; one
// with runtime state left, or no recorded exit, is not.
func TestDeletedAlready(t *testing.T) {
	bundle, root := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(bundle, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("options.json", `{"binary_name":"/usr/bin/crun","root":"`+root+`"}`)
	args := []string{"-namespace", "ns1", "-address", "/x/containerd.sock", "-publish-binary", "/x/containerd", "-id", "c1", "-bundle", bundle, "delete"}
	if deletedAlready(args) {
		t.Fatal("answered without a recorded exit")
	}
	write("exit.json", `{"Timestamp":"2026-11-22T20:05:34.123456789Z","Pid":4242,"Status":3}`)
	if err := os.MkdirAll(filepath.Join(root, "ns1", "c1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if deletedAlready(args) {
		t.Fatal("answered while the runtime still has state for the task")
	}
	if err := os.RemoveAll(filepath.Join(root, "ns1", "c1")); err != nil {
		t.Fatal(err)
	}
	// stdout goes to a pipe for the reply.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	ok := deletedAlready(args)
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if !ok {
		t.Fatal("not answered")
	}
	var got task.DeleteResponse
	if err := proto.Unmarshal(out, &got); err != nil || got.Pid != 4242 || got.ExitStatus != 3 {
		t.Fatalf("reply %v (%v)", &got, err)
	}
	if deletedAlready([]string{"-namespace", "../x", "-id", "c1", "-bundle", bundle, "delete"}) {
		t.Fatal("answered for a namespace with a slash")
	}
}
