package dnsserver

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestUpstreams(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	systemd := write("systemd.conf", "# managed by resolved\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch lan\n")
	defer func(p string) { systemdResolvConf = p }(systemdResolvConf)

	tests := []struct {
		name        string
		content     string // "" = the file does not exist
		systemdFile string
		want        []string
	}{
		{
			name:    "plain",
			content: "search example.org\nnameserver 10.255.255.53\noptions ndots:2 timeout:1\n",
			want:    []string{"10.255.255.53:53"},
		},
		{
			name:    "comments, ipv6, zone, junk",
			content: "# nameserver 9.9.9.9\n; nameserver 8.8.4.4\nnameserver 1.1.1.1 # cloudflare\nnameserver 2001:db8::1\nnameserver fe80::1%eth0\nnameserver bogus\n",
			want:    []string{"1.1.1.1:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53"},
		},
		{
			name:    "at most three",
			content: "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n",
			want:    []string{"192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"},
		},
		{
			name:        "systemd-resolved stub",
			content:     "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
			systemdFile: systemd,
			want:        []string{"192.0.2.53:53", "[2001:db8::53]:53"},
		},
		{
			name:        "stub without resolved's file",
			content:     "nameserver 127.0.0.53\n",
			systemdFile: filepath.Join(dir, "absent.conf"),
			want:        []string{"127.0.0.53:53"},
		},
		{
			name:        "stub among others is kept",
			content:     "nameserver 127.0.0.53\nnameserver 192.0.2.1\n",
			systemdFile: systemd,
			want:        []string{"127.0.0.53:53", "192.0.2.1:53"},
		},
		{name: "no nameservers", content: "search lan\n"},
		{name: "missing file"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			systemdResolvConf = tc.systemdFile
			path := filepath.Join(dir, "missing")
			if tc.content != "" {
				path = write("resolv"+string(rune('a'+i))+".conf", tc.content)
			}
			assert.Check(t, is.DeepEqual(Upstreams(path), tc.want))
		})
	}
}
