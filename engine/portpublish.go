package engine

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/hyperbox/hyperbox/engine/portproxy"
)

// ProxyPublisher publishes ports with the in-process userland proxy.
type ProxyPublisher struct{ M *portproxy.Manager }

func toProxy(b PortBinding) (portproxy.Binding, error) {
	pb := portproxy.Binding{Proto: b.Proto, HostPort: b.HostPort, ContainerIP: b.ContainerIP, ContainerPort: b.ContainerPort}
	if b.HostIP != "" {
		ip, err := netip.ParseAddr(b.HostIP)
		if err != nil {
			return pb, fmt.Errorf("invalid host IP %q", b.HostIP)
		}
		pb.HostIP = ip
	}
	return pb, nil
}

// Publish opens the binding; a taken port gets dockerd's wording.
func (p ProxyPublisher) Publish(b PortBinding) (PortBinding, error) {
	pb, err := toProxy(b)
	if err != nil {
		return b, err
	}
	got, err := p.M.Add(pb)
	if err != nil {
		var be *portproxy.BindError
		if errors.As(err, &be) && be.InUse() {
			return b, fmt.Errorf("Bind for %s failed: port is already allocated", be.HostAddr())
		}
		return b, err
	}
	b.HostPort = got.HostPort
	return b, nil
}

// Unpublish closes the binding.
func (p ProxyPublisher) Unpublish(b PortBinding) error {
	pb, err := toProxy(b)
	if err != nil {
		return err
	}
	return p.M.Remove(pb)
}
