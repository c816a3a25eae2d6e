package compose

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

// `up --scale web=3` runs three web containers, and the service name
// resolves to all three addresses (one A record per container); each
// container's own name resolves to its address.
func TestComposeScaleDNS(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "scale")

	p.ok(t, "up", "-d", "--wait", "--scale", "web=3")
	assert.Check(t, is.DeepEqual(services(p.ps(t)), []string{"client running", "web running", "web running", "web running"}))

	network := p.name + "_default"
	var want []string
	for _, id := range p.containerIDs(t, "web") {
		want = append(want, inspect(t, d, `{{(index .NetworkSettings.Networks "`+network+`").IPAddress}}`, id))
	}
	slices.Sort(want)
	assert.Assert(t, is.Len(want, 3))

	var got []string
	t.Logf("$ docker compose -p %s exec -T client nslookup web   (until it lists %v)", p.name, want)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := p.run("exec", "-T", "client", "nslookup", "web")
		got = nslookupAddrs(res.Stdout())
		if !slices.Equal(got, want) {
			return poll.Continue("nslookup web: want %v, got %v:\n%s", want, got, res.Combined())
		}
		return poll.Success()
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(500*time.Millisecond))

	ip2 := inspect(t, d, `{{(index .NetworkSettings.Networks "`+network+`").IPAddress}}`, p.name+"-web-2")
	res := p.ok(t, "exec", "-T", "client", "nslookup", p.name+"-web-2")
	assert.Check(t, is.DeepEqual(nslookupAddrs(res.Stdout()), []string{ip2}))
}

// nslookupAddrs returns the sorted IPv4 answers in busybox nslookup output,
// leaving out the server's own "Address: 127.0.0.11:53" line.
func nslookupAddrs(out string) []string {
	var addrs []string
	for _, m := range regexp.MustCompile(`(?m)^Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$`).FindAllStringSubmatch(out, -1) {
		addrs = append(addrs, m[1])
	}
	slices.Sort(addrs)
	return addrs
}
