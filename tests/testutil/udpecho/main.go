// Command udpecho answers every UDP datagram on :9999 with "echo:" and the
// datagram. The e2e tests copy it, statically linked, into a busybox
// container (busybox has no UDP server) to test UDP port publishing.
package main

import (
	"log"
	"net"
)

func main() {
	pc, err := net.ListenPacket("udp", ":9999")
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		_, _ = pc.WriteTo(append([]byte("echo:"), buf[:n]...), addr)
	}
}
