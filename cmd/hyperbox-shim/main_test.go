package main

import (
	"testing"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
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
