package daemon

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// HostState is what a daemon can leave behind on the host outside its own
// directories: network interfaces, named network namespaces, mounts,
// listening sockets and firewall rules. Take one before and one after, and
// Diff them.
type HostState struct {
	Links     []string // interface names (ip -o link), without the @peer suffix
	Netns     []string // named network namespaces (/run/netns)
	Mounts    []string // mount points (/proc/self/mountinfo), one entry per mount
	Listeners []string // "tcp 0.0.0.0:8080" (ss -Hltnu)
	Firewall  []string // iptables-save and ip6tables-save lines, counters and comments stripped, "iptables: " prefixed
	NFTables  []string // nft list ruleset lines, counters stripped
}

// SnapshotHost reads the host state. Tools that are not installed (ip6tables,
// nft) contribute nothing; a tool that fails is an error.
func SnapshotHost() (HostState, error) {
	var s HostState
	var err error
	if s.Links, err = linkNames(); err != nil {
		return s, err
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			s.Netns = append(s.Netns, e.Name())
		}
	}
	if s.Mounts, err = mountPoints(); err != nil {
		return s, err
	}
	if s.Listeners, err = listeners(); err != nil {
		return s, err
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		out, err := iptablesSave(bin)
		if err != nil {
			return s, err
		}
		for _, l := range normalizeFirewall(out) {
			s.Firewall = append(s.Firewall, bin+": "+l)
		}
	}
	if _, err := exec.LookPath("nft"); err == nil {
		out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			return s, fmt.Errorf("nft list ruleset: %v: %s", err, out)
		}
		s.NFTables = normalizeFirewall(string(out))
	}
	return s, nil
}

// Diff describes what after has that s has not ("+ ...") and, for firewall
// rules, what it lost ("- ..."); nil when nothing changed. Listening sockets
// and mounts that went away are not reported: only what is left behind counts.
func (s HostState) Diff(after HostState) []string {
	var out []string
	add := func(kind string, before, now []string, both bool) {
		plus, minus := multisetDiff(before, now)
		for _, x := range plus {
			out = append(out, fmt.Sprintf("+ %s: %s", kind, x))
		}
		if both {
			for _, x := range minus {
				out = append(out, fmt.Sprintf("- %s: %s", kind, x))
			}
		}
	}
	add("link", s.Links, after.Links, false)
	add("netns", s.Netns, after.Netns, false)
	add("mount", s.Mounts, after.Mounts, false)
	add("listener", s.Listeners, after.Listeners, false)
	add("firewall", s.Firewall, after.Firewall, true)
	add("nft", s.NFTables, after.NFTables, true)
	return out
}

// DiffNaming splits Diff(after) into what after added that names one of
// tokens (as a whole word: "br-1" is not in "br-12", "8080" not in "18080")
// or is a mount at or under root, and the rest. Use it on a host shared with
// other programs that may change their own interfaces and rules meanwhile:
// tokens are names only the test's objects have (container and network IDs,
// interface names, published ports); addresses and subnets are reused by
// other daemons and make poor tokens.
func (s HostState) DiffNaming(after HostState, tokens []string, root string) (mine, others []string) {
	for _, l := range s.Diff(after) {
		if !strings.HasPrefix(l, "+ ") { // gone is not left behind
			others = append(others, l)
			continue
		}
		ok := root != "" && (strings.HasSuffix(l, "mount: "+root) || strings.Contains(l, "mount: "+root+"/"))
		for _, tok := range tokens {
			if ok {
				break
			}
			ok = tok != "" && containsWord(l, tok)
		}
		if ok {
			mine = append(mine, l)
		} else {
			others = append(others, l)
		}
	}
	return mine, others
}

// containsWord reports whether tok occurs in s between characters that
// cannot be part of a name, address or number (so "br-1" is not found in
// "br-12", nor "10.0.0.1" in "10.0.0.12"; it is in "10.0.0.1/32" and in
// "0.0.0.0:8080" for "8080").
func containsWord(s, tok string) bool {
	part := func(b byte) bool {
		return b == '-' || b == '_' || b == '.' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
	}
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], tok)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(tok)
		if (j == 0 || !part(s[j-1])) && (end == len(s) || !part(s[end])) {
			return true
		}
		i = j + 1
	}
	return false
}

// multisetDiff returns the elements of b missing from a (plus) and of a
// missing from b (minus), counting duplicates.
func multisetDiff(a, b []string) (plus, minus []string) {
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		if count[x] > 0 {
			count[x]--
			continue
		}
		plus = append(plus, x)
	}
	for _, x := range a {
		if count[x] > 0 {
			count[x]--
			minus = append(minus, x)
		}
	}
	return plus, minus
}

// Interfaces maps the host's interfaces by index and by IPv4 address.
type Interfaces struct {
	ByIndex map[string]string   // ifindex ("12") -> name
	ByAddr  map[string][]string // IPv4 address ("172.18.0.1") -> names
}

// HostInterfaces reads the host's interface indexes and IPv4 addresses: the
// host side of a container's veth is ByIndex[<its /sys/class/net/eth0/iflink>];
// for a bridge network's interface see Bridge.
func HostInterfaces() Interfaces {
	h := Interfaces{ByIndex: map[string]string{}, ByAddr: map[string][]string{}}
	out, _ := exec.Command("ip", "-o", "link").Output()
	for _, l := range strings.Split(string(out), "\n") {
		// "12: br-0123456789ab: <...>" or "13: veth1@if12: <...>"
		if f := strings.SplitN(l, ": ", 3); len(f) == 3 {
			name, _, _ := strings.Cut(f[1], "@")
			h.ByIndex[f[0]] = name
		}
	}
	out, _ = exec.Command("ip", "-o", "-4", "addr").Output()
	for _, l := range strings.Split(string(out), "\n") {
		// "5: br-0123456789ab    inet 172.18.0.1/16 brd ..."
		if f := strings.Fields(l); len(f) >= 4 && f[2] == "inet" {
			addr, _, _ := strings.Cut(f[3], "/")
			h.ByAddr[addr] = append(h.ByAddr[addr], f[1])
		}
	}
	return h
}

// Bridge returns the host interface of a bridge network: the one holding its
// gateway address, or, when several do (daemons on one host may pick the
// same subnet), the one whose name has the network's short ID in it (as
// dockerd's br-<id> has); "" when that is still ambiguous.
func (h Interfaces) Bridge(gateway, networkID string) string {
	names := h.ByAddr[gateway]
	if len(names) == 1 {
		return names[0]
	}
	if len(networkID) >= 12 {
		for _, n := range names {
			if strings.Contains(n, networkID[:12]) {
				return n
			}
		}
	}
	return ""
}

// linkNames lists interface names: `ip -o link show [filter...]`, e.g.
// filter "master", "br0".
func linkNames(filter ...string) ([]string, error) {
	args := append([]string{"-o", "link", "show"}, filter...)
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		// "12: br-0123456789ab: <BROADCAST,...>" or "13: veth1@if12: <...>"
		f := strings.SplitN(l, ": ", 3)
		if len(f) < 3 {
			continue
		}
		name, _, _ := strings.Cut(f[1], "@")
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 5 {
			mps = append(mps, unescapeMountinfo(fields[4]))
		}
	}
	sort.Strings(mps)
	return mps, sc.Err()
}

func listeners() ([]string, error) {
	out, err := exec.Command("ss", "-Hltnu").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ss -Hltnu: %v: %s", err, out)
	}
	var ls []string
	for _, l := range strings.Split(string(out), "\n") {
		// Netid State Recv-Q Send-Q Local:Port Peer:Port [Process]
		if f := strings.Fields(l); len(f) >= 5 {
			ls = append(ls, f[0]+" "+f[4])
		}
	}
	sort.Strings(ls)
	return ls, nil
}

// iptablesSave runs <bin>-save; "" when the tool is not installed.
func iptablesSave(bin string) (string, error) {
	if _, err := exec.LookPath(bin + "-save"); err != nil {
		return "", nil
	}
	out, err := exec.Command(bin + "-save").Output()
	if err != nil {
		return "", fmt.Errorf("%s-save: %v", bin, err)
	}
	return string(out), nil
}

var (
	chainCounters = regexp.MustCompile(`\s*\[\d+:\d+\]$`)
	nftCounters   = regexp.MustCompile(`counter packets \d+ bytes \d+`)
)

// normalizeFirewall drops comments and blank lines and packet counters from
// iptables-save or nft output, so two snapshots compare equal when only
// traffic happened in between.
func normalizeFirewall(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		l = chainCounters.ReplaceAllString(l, "")
		l = nftCounters.ReplaceAllString(l, "counter")
		out = append(out, l)
	}
	return out
}
