package network

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Chains hyperboxd owns; FORWARD and POSTROUTING jump to them.
const (
	chainForward   = "HYPERBOX-FORWARD"
	chainIsolation = "HYPERBOX-ISOLATION"
	chainNAT       = "HYPERBOX-POSTROUTING"
	bridgePrefix   = "hb"
)

var iptMu sync.Mutex

func ipt(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func iptExists(table string, rule ...string) bool {
	return ipt(append([]string{"-t", table, "-C"}, rule...)...) == nil
}

// ensureRule adds rule (appended, or inserted at the top) unless present.
func ensureRule(table string, insert bool, rule ...string) error {
	if iptExists(table, rule...) {
		return nil
	}
	op := "-A"
	if insert {
		op = "-I"
	}
	return ipt(append([]string{"-t", table, op}, rule...)...)
}

func deleteRule(table string, rule ...string) {
	for iptExists(table, rule...) {
		if ipt(append([]string{"-t", table, "-D"}, rule...)...) != nil {
			return
		}
	}
}

// setupFirewall creates hyperboxd's chains and jumps, and enables routing.
func setupFirewall() error {
	iptMu.Lock()
	defer iptMu.Unlock()
	for _, c := range []struct{ table, chain string }{{"filter", chainForward}, {"filter", chainIsolation}, {"nat", chainNAT}} {
		if ipt("-t", c.table, "-n", "-L", c.chain) != nil {
			if err := ipt("-t", c.table, "-N", c.chain); err != nil {
				return err
			}
		}
	}
	if err := ensureRule("filter", true, "FORWARD", "-j", chainForward); err != nil {
		return err
	}
	if err := ensureRule("nat", false, "POSTROUTING", "-j", chainNAT); err != nil {
		return err
	}
	// Traffic between two of our bridges goes through the isolation chain,
	// which accepts same-bridge traffic and drops the rest.
	if err := ensureRule("filter", true, chainForward, "-i", bridgePrefix+"+", "-o", bridgePrefix+"+", "-j", chainIsolation); err != nil {
		return err
	}
	if err := ensureRule("filter", false, chainIsolation, "-j", "DROP"); err != nil {
		return err
	}
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

// chainRules counts the rules of a chain.
func chainRules(table, chain string) int {
	out, err := exec.Command("iptables", "-w", "-t", table, "-S", chain).Output()
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "-A ") {
			n++
		}
	}
	return n
}

// teardownFirewall removes the chains and jumps once no network (of this
// or another hyperboxd on the host) has rules in them.
func teardownFirewall() {
	iptMu.Lock()
	defer iptMu.Unlock()
	// What setupFirewall itself adds: one jump in the forward chain, one
	// DROP in the isolation chain, nothing in the NAT chain.
	if chainRules("filter", chainForward) > 1 || chainRules("filter", chainIsolation) > 1 || chainRules("nat", chainNAT) > 0 {
		return
	}
	deleteRule("filter", "FORWARD", "-j", chainForward)
	deleteRule("nat", "POSTROUTING", "-j", chainNAT)
	for _, c := range []struct{ table, chain string }{{"filter", chainForward}, {"filter", chainIsolation}, {"nat", chainNAT}} {
		_ = ipt("-t", c.table, "-F", c.chain)
		_ = ipt("-t", c.table, "-X", c.chain)
	}
}

func networkRules(n *Network) []struct {
	table  string
	insert bool
	rule   []string
} {
	type r = struct {
		table  string
		insert bool
		rule   []string
	}
	br, sub := n.Bridge, n.Subnet.String()
	rules := []r{{"filter", true, []string{chainIsolation, "-i", br, "-o", br, "-j", "ACCEPT"}}}
	if n.Internal {
		// No way in or out of an internal network.
		return append(rules,
			r{"filter", false, []string{chainForward, "-i", br, "!", "-o", br, "-j", "DROP"}},
			r{"filter", false, []string{chainForward, "-o", br, "!", "-i", br, "-j", "DROP"}},
		)
	}
	return append(rules,
		r{"filter", false, []string{chainForward, "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}},
		r{"filter", false, []string{chainForward, "-i", br, "-j", "ACCEPT"}},
		r{"nat", false, []string{chainNAT, "-s", sub, "!", "-o", br, "-j", "MASQUERADE"}},
	)
}

// addNetworkRules installs a network's NAT and filter rules.
func addNetworkRules(n *Network) error {
	iptMu.Lock()
	defer iptMu.Unlock()
	for _, r := range networkRules(n) {
		if err := ensureRule(r.table, r.insert, r.rule...); err != nil {
			return err
		}
	}
	return nil
}

// removeNetworkRules deletes them.
func removeNetworkRules(n *Network) {
	iptMu.Lock()
	defer iptMu.Unlock()
	for _, r := range networkRules(n) {
		deleteRule(r.table, r.rule...)
	}
}
