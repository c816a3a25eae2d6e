package containers

import (
	"encoding/json"

	"github.com/moby/moby/api/types/container"
)

// legacyInspect adds the NetworkSettings fields API 1.52 removed
// (IPAddress, Gateway, MacAddress, ...) for older clients, filled from
// the default "bridge" network as dockerd did (empty on other networks).
func legacyInspect(resp *container.InspectResponse) (any, error) {
	data, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	ns, _ := m["NetworkSettings"].(map[string]any)
	if ns == nil {
		return m, nil
	}
	legacy := map[string]any{
		"Bridge": "", "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
		"SecondaryIPAddresses": nil, "SecondaryIPv6Addresses": nil,
		"EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
		"IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
	}
	if nets, ok := ns["Networks"].(map[string]any); ok {
		if br, ok := nets["bridge"].(map[string]any); ok {
			for _, k := range []string{"EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress"} {
				if v, ok := br[k]; ok {
					legacy[k] = v
				}
			}
		}
	}
	for k, v := range legacy {
		if _, exists := ns[k]; !exists {
			ns[k] = v
		}
	}
	return m, nil
}
