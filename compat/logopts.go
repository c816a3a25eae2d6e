package compat

import (
	"strconv"

	units "github.com/docker/go-units"
)

// parseLogOpts reads json-file's max-size and max-file (0 size: the
// daemon default).
func parseLogOpts(opts map[string]string) (int64, int, error) {
	var size int64
	files := 1
	for k, v := range opts {
		switch k {
		case "max-size":
			n, err := units.FromHumanSize(v)
			if err != nil {
				return 0, 0, invalid("invalid max-size %q: %v", v, err)
			}
			size = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return 0, 0, invalid("invalid max-file %q: must be a number greater than 0", v)
			}
			files = n
		case "compress", "labels", "env", "env-regex", "tag":
		default:
			return 0, 0, invalid("unknown log opt '%s' for json-file log driver", k)
		}
	}
	return size, files, nil
}

// ParseLogOpts is parseLogOpts for the daemon's own log-opts.
func ParseLogOpts(opts map[string]string) (int64, int, error) { return parseLogOpts(opts) }
