package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// WithNetworking gives the daemon the networking compose needs: user-defined
// bridge networks with embedded DNS, published ports and a default bridge.
//
// For hyperboxd it changes only the teardown, which also deletes the
// daemon's networks (as for dockerd): its networking is always on, and
// cleaning up after itself is part of what the tests check.
//
// For dockerd it replaces the harness's --bridge=none --iptables=false
// --ip-masq=false with --bridge=<a bridge of its own>: dockerd creates only
// docker0 itself, so the harness creates dbr-<n>, named after the daemon's
// directory, and two daemons never share docker0. dockerd then programs
// iptables (its DOCKER* chains, NAT and forwarding rules), sysctls and
// docker-proxy processes on the host. Teardown removes its networks,
// docker-proxy processes, bridges and their veths, the iptables rules that
// name a DOCKER* chain or one of its bridges and the DOCKER* chains, the empty
// built-in chains and tables iptables-nft created for them, puts back the
// sysctls it changed, and reports whatever of dockerd's is still there. It
// leaves alone what other programs on the host add or remove meanwhile.
//
// Only one such dockerd may run at a time: each dockerd with iptables flushes
// the shared DOCKER chains when it starts, breaking the other's port
// forwarding. Launch refuses a second one in the same test process.
func WithNetworking() Option {
	return func(d *Daemon) { d.networking = true }
}

// hostNet is what a networking dockerd's teardown restores.
type hostNet struct {
	bridge   string            // the default bridge the harness created
	iptables map[string]string // "iptables"/"ip6tables" -> <bin>-save output before the daemon started
	nft      []string          // nftables tables and chains before the daemon started (nftObjects)
	sysctls  map[string]string // path -> value before the daemon started
	before   HostState
}

// netOwner is the root of the networking dockerd now running in this process.
var (
	netMu    sync.Mutex
	netOwner string
)

// sysctls dockerd sets when it manages networking.
var netSysctls = []string{
	"/proc/sys/net/ipv4/ip_forward",
	"/proc/sys/net/ipv6/conf/all/forwarding",
	"/proc/sys/net/ipv6/conf/default/forwarding",
	"/proc/sys/net/bridge/bridge-nf-call-iptables",
	"/proc/sys/net/bridge/bridge-nf-call-ip6tables",
}

// dockerdNetArgs returns the networking flags of the dockerd command line.
func (d *Daemon) dockerdNetArgs() []string {
	if d.hostNet == nil {
		return []string{"--bridge=none", "--iptables=false", "--ip-masq=false"}
	}
	// iptables, ip-masq, ip-forward and the userland proxy keep their defaults.
	return []string{"--bridge", d.hostNet.bridge}
}

// setupNetworking records the host's network state and creates the default
// bridge, for a dockerd started WithNetworking.
func (d *Daemon) setupNetworking() error {
	if !d.networking || d.target != TargetDockerd {
		return nil
	}
	netMu.Lock()
	defer netMu.Unlock()
	if netOwner != "" {
		return fmt.Errorf("a dockerd with networking is already running (%s): two would fight over the DOCKER iptables chains", netOwner)
	}
	h := &hostNet{
		// "dbr-<digits>": unique, at most 15 bytes, and not "hb*", which
		// hyperboxd's isolation rules match on a host that runs both.
		bridge:   "dbr-" + strings.TrimPrefix(d.cgroup, "hbx-"),
		iptables: map[string]string{},
		sysctls:  map[string]string{},
	}
	var err error
	if h.before, err = SnapshotHost(); err != nil {
		return err
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		if h.iptables[bin], err = iptablesSave(bin); err != nil {
			return err
		}
	}
	if h.nft, err = nftObjects(); err != nil {
		return err
	}
	for _, p := range netSysctls {
		if b, err := os.ReadFile(p); err == nil {
			h.sysctls[p] = strings.TrimSpace(string(b))
		}
	}
	if out, err := exec.Command("ip", "link", "add", "name", h.bridge, "type", "bridge").CombinedOutput(); err != nil {
		return fmt.Errorf("creating bridge %s: %v: %s", h.bridge, err, out)
	}
	d.hostNet = h
	netOwner = d.root
	return nil
}

// removeNetworks deletes the daemon's own networks (all but bridge, host and
// none) while it runs, so dockerd removes their bridges and rules itself. It
// returns the IDs of all networks it found.
func (d *Daemon) removeNetworks() ([]string, error) {
	hc := d.HTTPClient()
	hc.Timeout = 30 * time.Second
	resp, err := hc.Get("http://docker/networks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /networks: %s: %s", resp.Status, b)
	}
	var list []struct{ ID, Name string }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	var ids []string
	var errs []error
	for _, n := range list {
		ids = append(ids, n.ID)
		switch n.Name {
		case "bridge", "host", "none":
			continue
		}
		req, _ := http.NewRequest(http.MethodDelete, "http://docker/networks/"+n.ID, nil)
		resp, err := hc.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			errs = append(errs, fmt.Errorf("DELETE network %s: %s: %s", n.Name, resp.Status, strings.TrimSpace(string(b))))
		}
	}
	return ids, errors.Join(errs...)
}

// proxyChildren returns the docker-proxy processes the daemon started.
func (d *Daemon) proxyChildren() []int {
	ppid := d.Pid()
	if ppid == 0 {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm(pid) == "docker-proxy" && parent(pid) == ppid {
			pids = append(pids, pid)
		}
	}
	return pids
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

func parent(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// teardownNetworking undoes on the host what a networking dockerd did, once
// it has stopped: its docker-proxy processes, its bridges (the default one
// and br-<id> of the networks in netIDs) and the veths on them, its iptables
// rules and chains, the empty nftables chains and tables iptables-nft left,
// the sysctls it changed. Only what is dockerd's is touched (DOCKER* chains,
// rules naming them or its bridges): other programs on the host may be
// changing their own rules and interfaces meanwhile. It returns what it could
// not undo.
func (d *Daemon) teardownNetworking(proxies []int, netIDs []string) error {
	h := d.hostNet
	if h == nil {
		return nil
	}
	defer func() {
		netMu.Lock()
		if netOwner == d.root {
			netOwner = ""
		}
		netMu.Unlock()
	}()
	var errs []error
	for _, pid := range proxies {
		if comm(pid) == "docker-proxy" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	bridges := []string{h.bridge}
	for _, id := range netIDs {
		if len(id) >= 12 {
			bridges = append(bridges, "br-"+id[:12])
		}
	}
	for _, br := range bridges {
		if _, err := os.Stat("/sys/class/net/" + br); err != nil {
			continue
		}
		ports, _ := linkNames("master", br)
		for _, name := range append(ports, br) {
			if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", name, err, out))
			}
		}
	}
	owned := dockerOwned(bridges)
	for _, bin := range []string{"iptables", "ip6tables"} {
		if err := undoIptables(bin, h.iptables[bin], owned); err != nil {
			errs = append(errs, err)
		}
	}
	if err := dropNewNftChains(h.nft); err != nil {
		errs = append(errs, err)
	}
	for p, v := range h.sysctls {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) != v {
			if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s=%s: %w", p, v, err))
			}
		}
	}
	for _, pid := range proxies {
		if comm(pid) == "docker-proxy" {
			errs = append(errs, fmt.Errorf("docker-proxy %d (%s) survives SIGKILL", pid, cmdline(pid)))
		}
	}
	after, err := SnapshotHost()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	left, others := h.before.DiffNaming(after, bridges, "")
	for _, l := range others {
		if strings.Contains(l, "DOCKER") {
			left = append(left, l)
		}
	}
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("dockerd left on the host:\n%s", strings.Join(left, "\n")))
	}
	return errors.Join(errs...)
}

// dockerOwned reports whether an iptables rule (a "-A CHAIN ..." line) is
// dockerd's: it is in or jumps to a DOCKER* chain, or names one of bridges as
// its input or output interface.
func dockerOwned(bridges []string) func(rule string) bool {
	return func(rule string) bool {
		f := strings.Fields(rule)
		if len(f) > 1 && strings.HasPrefix(f[1], "DOCKER") {
			return true
		}
		for i := 2; i+1 < len(f); i++ {
			switch f[i] {
			case "-j", "-g", "--jump", "--goto":
				if strings.HasPrefix(f[i+1], "DOCKER") {
					return true
				}
			case "-i", "-o", "--in-interface", "--out-interface":
				for _, br := range bridges {
					if f[i+1] == br {
						return true
					}
				}
			}
		}
		return false
	}
}

// iptTable is one table of iptables-save output.
type iptTable struct {
	chains map[string]string // chain -> policy ("-" for user-defined chains)
	order  []string          // chains in output order
	rules  []string          // "-A CHAIN ..." lines
}

func parseIptablesSave(out string) map[string]*iptTable {
	tables := map[string]*iptTable{}
	var cur *iptTable
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "*"):
			cur = &iptTable{chains: map[string]string{}}
			tables[l[1:]] = cur
		case cur == nil:
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l[1:])
			if len(f) >= 2 {
				cur.chains[f[0]] = f[1]
				cur.order = append(cur.order, f[0])
			}
		case strings.HasPrefix(l, "-A "):
			cur.rules = append(cur.rules, l)
		}
	}
	return tables
}

// iptablesUndo returns the iptables-restore --noflush script that takes back
// what dockerd added between before and after: it deletes the added rules
// owned reports as dockerd's, flushes and deletes the added DOCKER* chains and
// restores the policies of built-in chains. Rules that disappeared are not put
// back (dockerd only adds).
func iptablesUndo(before, after string, owned func(rule string) bool) string {
	b, a := parseIptablesSave(before), parseIptablesSave(after)
	names := make([]string, 0, len(a))
	for name := range a {
		names = append(names, name)
	}
	sort.Strings(names)
	var script strings.Builder
	for _, name := range names {
		at := a[name]
		bt := b[name]
		if bt == nil {
			bt = &iptTable{chains: map[string]string{}}
		}
		var lines []string
		added := map[string]bool{}
		for _, c := range at.order {
			pol := at.chains[c]
			old, existed := bt.chains[c]
			switch {
			case pol == "-" && !existed && strings.HasPrefix(c, "DOCKER"):
				added[c] = true
			case pol != "-" && existed && old != pol:
				lines = append(lines, fmt.Sprintf(":%s %s [0:0]", c, old))
			case pol != "-" && !existed && pol != "ACCEPT":
				// A table that did not exist had built-in chains accepting.
				lines = append(lines, fmt.Sprintf(":%s ACCEPT [0:0]", c))
			}
		}
		newRules, _ := multisetDiff(bt.rules, at.rules)
		for _, r := range newRules {
			if chain := strings.Fields(r)[1]; !added[chain] && owned(r) {
				lines = append(lines, "-D"+r[2:])
			}
		}
		for _, c := range at.order {
			if added[c] {
				lines = append(lines, "-F "+c)
			}
		}
		for _, c := range at.order {
			if added[c] {
				lines = append(lines, "-X "+c)
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&script, "*%s\n%s\nCOMMIT\n", name, strings.Join(lines, "\n"))
		}
	}
	return script.String()
}

func undoIptables(bin, before string, owned func(string) bool) error {
	after, err := iptablesSave(bin)
	if err != nil || after == "" {
		return err
	}
	script := iptablesUndo(before, after, owned)
	if script == "" {
		return nil
	}
	cmd := exec.Command(bin+"-restore", "--noflush")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s-restore --noflush: %v: %s\nscript:\n%s", bin, err, out, script)
	}
	return nil
}

// nftObjects lists nftables tables ("ip nat") and chains ("ip nat PREROUTING");
// nil without nft.
func nftObjects() ([]string, error) {
	doc, err := nftJSON("list", "ruleset")
	if err != nil || doc == nil {
		return nil, err
	}
	var objs []string
	for _, o := range doc {
		if raw, ok := o["table"]; ok {
			var t struct{ Family, Name string }
			if err := json.Unmarshal(raw, &t); err == nil {
				objs = append(objs, t.Family+" "+t.Name)
			}
		}
		if raw, ok := o["chain"]; ok {
			var c struct{ Family, Table, Name string }
			if err := json.Unmarshal(raw, &c); err == nil {
				objs = append(objs, c.Family+" "+c.Table+" "+c.Name)
			}
		}
	}
	return objs, nil
}

// nftJSON runs `nft -j args...` and returns its objects; nil without nft.
func nftJSON(args ...string) ([]map[string]json.RawMessage, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, nil
	}
	out, err := exec.Command("nft", append([]string{"-j"}, args...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("nft -j %s: %v", strings.Join(args, " "), err)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("nft -j %s: %v", strings.Join(args, " "), err)
	}
	return doc.Nftables, nil
}

// iptablesNftTables are the tables iptables-nft creates, with the built-in
// chains it adds to them on first use.
var iptablesNftTables = map[string]bool{
	"ip filter": true, "ip nat": true, "ip mangle": true, "ip raw": true,
	"ip6 filter": true, "ip6 nat": true, "ip6 mangle": true, "ip6 raw": true,
}

var builtinChains = map[string]bool{"INPUT": true, "FORWARD": true, "OUTPUT": true, "PREROUTING": true, "POSTROUTING": true}

// dropNewNftChains deletes what iptables-nft leaves behind once dockerd's
// rules are gone: the built-in chains and the tables of iptables-nft that
// did not exist before and hold no rule. nft refuses to delete a chain that
// someone filled meanwhile.
func dropNewNftChains(before []string) error {
	now, err := nftObjects()
	if err != nil || now == nil {
		return err
	}
	added, _ := multisetDiff(before, now)
	rules := map[string]int{} // "family table chain" and "family table" -> rules
	doc, err := nftJSON("list", "ruleset")
	if err != nil {
		return err
	}
	for _, o := range doc {
		if raw, ok := o["rule"]; ok {
			var r struct{ Family, Table, Chain string }
			if err := json.Unmarshal(raw, &r); err == nil {
				rules[r.Family+" "+r.Table+" "+r.Chain]++
				rules[r.Family+" "+r.Table]++
			}
		}
	}
	var errs []error
	var tables []string
	for _, obj := range added {
		f := strings.Fields(obj)
		if !iptablesNftTables[f[0]+" "+f[1]] || rules[obj] > 0 || len(f) == 3 && !builtinChains[f[2]] {
			continue
		}
		if len(f) == 2 {
			tables = append(tables, obj)
			continue
		}
		if out, err := exec.Command("nft", "delete", "chain", f[0], f[1], f[2]).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete chain %s: %v: %s", obj, err, out))
		}
	}
	for _, t := range tables {
		f := strings.Fields(t)
		if out, err := exec.Command("nft", "delete", "table", f[0], f[1]).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete table %s: %v: %s", t, err, out))
		}
	}
	return errors.Join(errs...)
}
