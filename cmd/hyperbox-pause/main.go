// Command hyperbox-pause is the process of hyperboxd's shim keeper: a task
// that keeps the daemon's shared runc-v2 shim alive between containers
// (engine/keeper.go). It does nothing until a signal ends it. It is built
// static (CGO_ENABLED=0) because it runs in an empty root filesystem.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
