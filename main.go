// Command drover is an agentless, SSH-driven cluster manager for docker.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/drover-sh/drover/command"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// First signal: cancel the run so it stops cleanly (locks released,
		// state saved). Second: leave at once.
		<-sigs
		fmt.Fprintln(os.Stderr, "drover: stopping (press Ctrl-C again to exit at once)")
		cancel()
		<-sigs
		os.Exit(command.ExitInterrupted)
	}()
	code := command.Main(ctx, os.Args, command.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Getenv})
	cancel()
	os.Exit(code)
}
