package events

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestSubscribeReplaysAndFollows(t *testing.T) {
	t.Parallel()
	b := New()
	t0 := time.Now().UTC()
	b.Publish(Event{Type: "container", Action: "create", ID: "a", Time: t0})
	b.Publish(Event{Type: "container", Action: "start", ID: "a", Time: t0.Add(time.Second)})

	past, ch, cancel := b.Subscribe(t0.Add(time.Second))
	assert.Equal(t, len(past), 1)
	assert.Equal(t, past[0].Action, "start")
	b.Publish(Event{Type: "container", Action: "die", ID: "a"})
	ev := <-ch
	assert.Equal(t, ev.Action, "die")
	assert.Assert(t, !ev.Time.IsZero())
	assert.Equal(t, b.Subscribers(), 1)
	cancel()
	cancel()
	_, ok := <-ch
	assert.Assert(t, !ok)
	assert.Equal(t, b.Subscribers(), 0)

	none, _, cancel2 := b.Subscribe(time.Time{})
	assert.Equal(t, len(none), 0)
	cancel2()
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	b := New()
	_, ch, cancel := b.Subscribe(time.Time{})
	defer cancel()
	for i := 0; i < subBuffer+10; i++ {
		b.Publish(Event{Type: "container", Action: "x"})
	}
	n := 0
	for range ch {
		n++
	}
	assert.Equal(t, n, subBuffer)
}
