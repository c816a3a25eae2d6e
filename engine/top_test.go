package engine

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParsePS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		out     string
		pids    map[int]bool
		want    TopResult
		wantErr string
	}{
		{
			name: "ps -ef",
			out: "UID          PID    PPID  C STIME TTY          TIME CMD\n" +
				"root           1       0  0 10:00 ?        00:00:01 /sbin/init\n" +
				"root        4242    4200  0 10:01 ?        00:00:00 sleep 1000\n" +
				"root        4243    4242  0 10:01 ?        00:00:00 sh -c  echo   a\n",
			pids: map[int]bool{4242: true, 4243: true},
			want: TopResult{
				Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
				Processes: [][]string{
					{"root", "4242", "4200", "0", "10:01", "?", "00:00:00", "sleep 1000"},
					{"root", "4243", "4242", "0", "10:01", "?", "00:00:00", "sh -c echo a"},
				},
			},
		},
		{
			name: "-o pid,comm",
			out:  "    PID COMMAND\n      1 init\n   4242 sleep\n",
			pids: map[int]bool{4242: true},
			want: TopResult{Titles: []string{"PID", "COMMAND"}, Processes: [][]string{{"4242", "sleep"}}},
		},
		{
			name: "threads follow their process (ps -eLf style)",
			out: "PID LWP CMD\n" +
				"1 1 init\n" +
				"- 2 init\n" +
				"4242 4242 app\n" +
				"- 4250 app\n",
			pids: map[int]bool{4242: true},
			want: TopResult{Titles: []string{"PID", "LWP", "CMD"}, Processes: [][]string{{"4242", "4242", "app"}, {"-", "4250", "app"}}},
		},
		{
			name: "no process of the container",
			out:  "PID CMD\n1 init\n",
			pids: map[int]bool{7: true},
			want: TopResult{Titles: []string{"PID", "CMD"}, Processes: [][]string{}},
		},
		{name: "no PID column", out: "COMMAND\nsleep\n", wantErr: "Couldn't find PID field in ps output"},
		{name: "bad PID", out: "PID CMD\nx init\n", wantErr: "Unexpected pid 'x'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePS([]byte(c.out), c.pids)
			if c.wantErr != "" {
				assert.Check(t, is.ErrorContains(err, c.wantErr))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(got, c.want))
		})
	}
}
