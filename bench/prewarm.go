package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Rows of the prewarm scenario: creating a container of an image the
// daemon has seen started again and again (hyperboxd's pool has a
// prepared snapshot of it: a hit) and of an image never used before (a
// miss). dockerd has no pool; its rows show the same two creates.
//
// The network rows start a container on a network containers were started
// on again and again (hyperboxd's pool has a namespace wired to it: a hit)
// and on a network never used before (a miss); the start includes the
// container's network set-up.
const (
	rowPoolHit     = "create, often used image (pool hit)"
	rowPoolMiss    = "create, new image (pool miss)"
	rowNetnsHit    = "start, often used network (pool hit)"
	rowNetnsMiss   = "start, new network (pool miss)"
	warmNetwork    = "hbx-bench-warm"
	freshNetworkFm = "hbx-bench-fresh-%d"
)

// prewarmState holds the never-used images and networks made in setup.
type prewarmState struct {
	fresh    []string
	freshNet []string
	nets     []string // every network setup created
	next     int
}

// setupPrewarm commits one distinct image per iteration (so each miss
// really is a first use) and warms the pool with a few starts of busybox.
func setupPrewarm(n int) func(ctx context.Context, t *target) (any, error) {
	return func(ctx context.Context, t *target) (any, error) {
		st := &prewarmState{}
		for i := 0; i < n; i++ {
			id, err := createStart(ctx, t, "sh", "-c", fmt.Sprintf("echo %d > /fresh", i))
			if err != nil {
				return st, err
			}
			err = waitExit(ctx, t, id)
			ref := fmt.Sprintf("hbx-bench-fresh:%d", i)
			if err == nil {
				_, err = t.c.ContainerCommit(ctx, id, client.ContainerCommitOptions{Reference: ref})
			}
			_ = remove(ctx, t, id)
			if err != nil {
				return st, err
			}
			st.fresh = append(st.fresh, ref)
		}
		for i := 0; i < 3; i++ {
			if _, err := runOnce(ctx, t, true); err != nil {
				return st, err
			}
		}
		for i := -1; i < n; i++ {
			name := warmNetwork
			if i >= 0 {
				name = fmt.Sprintf(freshNetworkFm, i)
			}
			// Subnets of their own, one range per daemon: the default
			// address pools hold only 31 networks.
			third := 10
			if t.label != "hyperbox" {
				third = 11
			}
			sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(third), byte(i + 1), 0}), 24)
			if _, err := t.c.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge",
				IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: sub}}}}); err != nil {
				return st, fmt.Errorf("network create %s: %w", name, err)
			}
			st.nets = append(st.nets, name)
			if i >= 0 {
				st.freshNet = append(st.freshNet, name)
			}
		}
		for i := 0; i < 3; i++ {
			if _, err := startOn(ctx, t, warmNetwork); err != nil {
				return st, err
			}
		}
		return st, nil
	}
}

// waitExit waits until container id is not running.
func waitExit(ctx context.Context, t *target, id string) error {
	res := t.c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-res.Result:
		return nil
	case err := <-res.Error:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s still running after 30 s", id)
	}
}

func runPrewarm(ctx context.Context, t *target, v any) ([]sample, error) {
	st := v.(*prewarmState)
	if st.next >= len(st.fresh) {
		return nil, fmt.Errorf("no fresh image left")
	}
	create := func(img string) (float64, error) {
		settle()
		t0 := time.Now()
		res, err := t.c.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: img, Cmd: []string{"true"}}, HostConfig: hostConfig(false),
		})
		d := ms(time.Since(t0))
		if err != nil {
			return 0, err
		}
		return d, remove(ctx, t, res.ID)
	}
	hit, err := create(busyboxTag)
	if err != nil {
		return nil, err
	}
	miss, err := create(st.fresh[st.next])
	if err != nil {
		return nil, err
	}
	netHit, err := startOn(ctx, t, warmNetwork)
	if err != nil {
		return nil, err
	}
	netMiss, err := startOn(ctx, t, st.freshNet[st.next])
	st.next++
	if err != nil {
		return nil, err
	}
	return []sample{{row: rowPoolHit, unit: "ms", v: hit}, {row: rowPoolMiss, unit: "ms", v: miss},
		{row: rowNetnsHit, unit: "ms", v: netHit}, {row: rowNetnsMiss, unit: "ms", v: netMiss}}, nil
}

// settle gives a pool time to refill after the previous measurement (it
// waits 100 ms after a claim), so that no row pays for another's refill.
func settle() { time.Sleep(300 * time.Millisecond) }

// startOn creates a container of busybox on network net and times its
// start (which sets up its network), then removes it.
func startOn(ctx context.Context, t *target, net string) (float64, error) {
	settle()
	res, err := t.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: busyboxTag, Cmd: []string{"true"}},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(net)},
	})
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	_, err = t.c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
	d := ms(time.Since(t0))
	if rerr := remove(ctx, t, res.ID); err == nil {
		err = rerr
	}
	return d, err
}

func teardownPrewarm(ctx context.Context, t *target, v any) error {
	st, _ := v.(*prewarmState)
	if st == nil {
		return nil
	}
	for _, ref := range st.fresh {
		_, _ = t.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true})
	}
	var errs []error
	for _, n := range st.nets {
		if _, err := t.c.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkPrewarm is the benchmark's assertion that a pool hit makes a
// container's creation faster than a miss on hyperboxd (medians). The
// namespace pool's rows are reported, not asserted: a hit saves about
// 2 ms of a 30 ms start, less than a start's spread on these machines.
func checkPrewarm(rs []*result) error {
	var hit, miss *stats
	for _, r := range rs {
		switch r.Scenario {
		case rowPoolHit:
			hit = r.Hyperbox
		case rowPoolMiss:
			miss = r.Hyperbox
		}
	}
	if hit == nil || miss == nil {
		return nil
	}
	if hit.Median >= miss.Median {
		return fmt.Errorf("prewarm: a pool hit (median %.1f ms) is not faster than a miss (median %.1f ms)", hit.Median, miss.Median)
	}
	return nil
}
