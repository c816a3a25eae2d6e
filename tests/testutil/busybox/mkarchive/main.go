// Command mkarchive writes the busybox test image (built from Debian's
// busybox-static) as a `docker save` archive, for trying hyperboxd by hand:
//
//	go run ./tests/testutil/busybox/mkarchive -o bin/busybox.tar && docker load -i bin/busybox.tar
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
)

func main() {
	out := flag.String("o", "busybox.tar", "archive to write")
	tag := flag.String("t", "busybox:latest", "image name")
	flag.Parse()
	if err := busybox.SaveDockerArchive(*out, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "mkarchive:", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}
