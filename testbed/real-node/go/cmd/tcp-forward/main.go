// tcp-forward listens on one TCP address and relays every connection to another, bytes as they
// are (TLS passes through untouched). The real node's kubelet lives in its own network namespace
// and reaches the API server, which listens on 127.0.0.1 of the host only, through it.
//
//	tcp-forward LISTEN-ADDR TARGET-ADDR
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func relay(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcp-forward: %v\n", err)
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tcp-forward LISTEN-ADDR TARGET-ADDR")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcp-forward: %v\n", err)
		os.Exit(1)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		os.Exit(0)
	}()
	fmt.Printf("tcp-forward: %s -> %s\n", listener.Addr(), os.Args[2])
	for {
		conn, err := listener.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcp-forward: %v\n", err)
			continue
		}
		go relay(conn, os.Args[2])
	}
}
