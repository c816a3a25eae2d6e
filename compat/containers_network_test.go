package compat

import (
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/engine"
)

func TestPortSpecs(t *testing.T) {
	t.Parallel()
	p80 := network.MustParsePort("80/tcp")
	p53 := network.MustParsePort("53/udp")
	p443 := network.MustParsePort("443/tcp")
	tests := []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		want []engine.PortSpec
	}{
		{name: "fixed", hc: container.HostConfig{PortBindings: network.PortMap{p80: {{HostPort: "8080"}}}},
			want: []engine.PortSpec{{Proto: "tcp", HostPort: "8080", ContainerPort: 80}}},
		{name: "random and host ip", hc: container.HostConfig{PortBindings: network.PortMap{p53: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}},
			want: []engine.PortSpec{{Proto: "udp", HostIP: "127.0.0.1", ContainerPort: 53}}},
		{name: "unspecified ipv4 is all", hc: container.HostConfig{PortBindings: network.PortMap{p80: {{HostIP: netip.IPv4Unspecified(), HostPort: "0"}}}},
			want: []engine.PortSpec{{Proto: "tcp", HostPort: "0", ContainerPort: 80}}},
		{name: "publish all", cfg: container.Config{ExposedPorts: network.PortSet{p443: {}, p80: {}}},
			hc:   container.HostConfig{PublishAllPorts: true, PortBindings: network.PortMap{p80: {{HostPort: "8080"}}}},
			want: []engine.PortSpec{{Proto: "tcp", ContainerPort: 443}, {Proto: "tcp", HostPort: "8080", ContainerPort: 80}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s engine.ContainerSpec
			assert.NilError(t, portSpecs(&s, &tc.cfg, &tc.hc))
			assert.DeepEqual(t, s.PortBindings, tc.want)
		})
	}
}

func TestPortMapShowsBothFamilies(t *testing.T) {
	t.Parallel()
	c := &engine.Container{Ports: []engine.PortBinding{{Proto: "tcp", HostPort: 32768, ContainerPort: 80}}}
	pm := portMap(c, &container.Config{ExposedPorts: network.PortSet{network.MustParsePort("81/tcp"): {}}})
	b := pm[network.MustParsePort("80/tcp")]
	assert.Equal(t, len(b), 2)
	assert.Equal(t, b[0].HostIP.String()+" "+b[0].HostPort, "0.0.0.0 32768")
	assert.Equal(t, b[1].HostIP.String()+" "+b[1].HostPort, ":: 32768")
	assert.Assert(t, pm[network.MustParsePort("81/tcp")] == nil)
}
