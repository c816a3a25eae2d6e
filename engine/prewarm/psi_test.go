package prewarm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Pressure
		wantErr string
	}{
		{
			name: "memory",
			in:   "some avg10=1.09 avg60=5.00 avg300=6.18 total=240494125\nfull avg10=0.50 avg60=1.38 avg300=1.81 total=135695151\n",
			want: Pressure{Some: Stat{1.09, 5, 6.18, 240494125}, Full: Stat{0.5, 1.38, 1.81, 135695151}},
		},
		{
			name: "cpu without full (older kernels)",
			in:   "some avg10=18.72 avg60=54.24 avg300=56.02 total=2258926983\n",
			want: Pressure{Some: Stat{18.72, 54.24, 56.02, 2258926983}},
		},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "bad line", in: "most avg10=1\n", wantErr: "unexpected line"},
		{name: "bad number", in: "some avg10=x avg60=0 avg300=0 total=0\n", wantErr: "avg10=x"},
		{name: "no equals", in: "some avg10\n", wantErr: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

func writePSI(t *testing.T, path string, avg10 string) {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	data := "some avg10=" + avg10 + " avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	assert.NilError(t, os.WriteFile(path, []byte(data), 0o644))
}

func TestFindSources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cgroup  string   // /proc/self/cgroup
		layout  string   // "unified", "hybrid", "v1"
		psi     bool     // /proc/pressure exists
		want    []string // source names
		wantDir string   // relative to the cgroup root
	}{
		{name: "unified", cgroup: "0::/system.slice/hb.service\n", layout: "unified", psi: true,
			want:    []string{"system/cpu", "system/memory", "system/io", "cgroup/cpu", "cgroup/memory", "cgroup/io"},
			wantDir: "system.slice/hb.service"},
		{name: "hybrid", cgroup: "4:memory:/x\n0::/hb\n", layout: "hybrid", psi: true,
			want:    []string{"system/cpu", "system/memory", "system/io", "cgroup/cpu", "cgroup/memory", "cgroup/io"},
			wantDir: "unified/hb"},
		{name: "v1 only", cgroup: "4:memory:/x\n", layout: "v1", psi: true,
			want: []string{"system/cpu", "system/memory", "system/io"}},
		{name: "no psi", cgroup: "4:memory:/x\n", layout: "v1", psi: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proc, cg := t.TempDir(), t.TempDir()
			assert.NilError(t, os.MkdirAll(filepath.Join(proc, "self"), 0o755))
			assert.NilError(t, os.WriteFile(filepath.Join(proc, "self", "cgroup"), []byte(tc.cgroup), 0o644))
			if tc.psi {
				for _, r := range []string{"cpu", "memory", "io"} {
					writePSI(t, filepath.Join(proc, "pressure", r), "0.00")
				}
			}
			base := ""
			switch tc.layout {
			case "unified":
				base = cg
			case "hybrid":
				base = filepath.Join(cg, "unified")
			}
			if base != "" {
				assert.NilError(t, os.MkdirAll(base, 0o755))
				assert.NilError(t, os.WriteFile(filepath.Join(base, "cgroup.procs"), nil, 0o644))
				rel := strings.TrimSpace(strings.SplitN(tc.cgroup[strings.Index(tc.cgroup, "0::"):], "::", 2)[1])
				for _, r := range []string{"cpu", "memory", "io"} {
					writePSI(t, filepath.Join(base, rel, r+".pressure"), "0.00")
				}
			}
			var names []string
			for _, s := range FindSources(proc, cg) {
				names = append(names, s.Name)
			}
			assert.DeepEqual(t, names, tc.want)
			if tc.wantDir != "" {
				assert.Equal(t, CgroupDir(proc, cg), filepath.Join(cg, tc.wantDir))
			}
		})
	}
}
