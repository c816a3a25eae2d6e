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
			// Another hyperboxd starting at the same time may create it
			// between the check and -N.
			if err := ipt("-t", c.table, "-N", c.chain); err != nil && ipt("-t", c.table, "-n", "-L", c.chain) != nil {
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

// fwRule is one rule of a network: appended, or inserted at the top.
type fwRule struct {
	table  string
	insert bool
	rule   []string
}

func networkRules(n *Network) []fwRule {
	br, sub := n.Bridge, n.Subnet.String()
	rules := []fwRule{{"filter", true, []string{chainIsolation, "-i", br, "-o", br, "-j", "ACCEPT"}}}
	if n.Internal {
		// No way in or out of an internal network.
		return append(rules,
			fwRule{"filter", false, []string{chainForward, "-i", br, "!", "-o", br, "-j", "DROP"}},
			// In the order iptables-save prints it (applyRules compares text).
			fwRule{"filter", false, []string{chainForward, "!", "-i", br, "-o", br, "-j", "DROP"}},
		)
	}
	return append(rules,
		fwRule{"filter", false, []string{chainForward, "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}},
		fwRule{"filter", false, []string{chainForward, "-i", br, "-j", "ACCEPT"}},
		fwRule{"nat", false, []string{chainNAT, "-s", sub, "!", "-o", br, "-j", "MASQUERADE"}},
	)
}

// addNetworkRules installs a network's NAT and filter rules.
func addNetworkRules(n *Network) error {
	iptMu.Lock()
	defer iptMu.Unlock()
	if applyRules(networkRules(n), true) == nil {
		return nil
	}
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
	if applyRules(networkRules(n), false) == nil {
		return
	}
	for _, r := range networkRules(n) {
		deleteRule(r.table, r.rule...)
	}
}

// applyRules adds the rules that are missing (add) or deletes those that
// are present (!add) with two commands in all, instead of two or three
// iptables runs per rule: iptables-save tells what is there, and one
// iptables-restore --noflush makes the changes, each table in one
// transaction. An error (say, another process changed the rules between
// the two) leaves the caller to fall back to one rule at a time.
func applyRules(rules []fwRule, add bool) error {
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		return fmt.Errorf("iptables-save: %w", err)
	}
	present := savedRules(string(out))
	changes := map[string][]string{}
	var tables []string
	for _, r := range rules {
		spec := strings.Join(r.rule, " ")
		var line string
		switch {
		case add && !present[r.table][spec] && r.insert:
			line = "-I " + spec
		case add && !present[r.table][spec]:
			line = "-A " + spec
		case !add && present[r.table][spec]:
			line = "-D " + spec
		default:
			continue
		}
		if _, ok := changes[r.table]; !ok {
			tables = append(tables, r.table)
		}
		changes[r.table] = append(changes[r.table], line)
	}
	if len(tables) == 0 {
		return nil
	}
	var in strings.Builder
	for _, t := range tables {
		fmt.Fprintf(&in, "*%s\n%s\nCOMMIT\n", t, strings.Join(changes[t], "\n"))
	}
	cmd := exec.Command("iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// savedRules indexes iptables-save's output: table -> rule as it follows
// "-A " -> present.
func savedRules(save string) map[string]map[string]bool {
	rules := map[string]map[string]bool{}
	table := ""
	for _, l := range strings.Split(save, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			table = strings.TrimSpace(l[1:])
			rules[table] = map[string]bool{}
		case strings.HasPrefix(l, "-A ") && table != "":
			rules[table][strings.Join(strings.Fields(l[3:]), " ")] = true
		}
	}
	return rules
}
