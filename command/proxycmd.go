package command

import (
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/mesh/proxy"
)

// proxyCommand is the routing mesh's data plane: what the drover-proxy
// container runs on each host (docs/networking.md). Hidden: people do not
// run it, drover starts it.
func proxyCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "proxy",
		Usage:     "run the routing mesh's proxy (inside the drover-proxy container)",
		Hidden:    true,
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Value: "/var/lib/drover/mesh/config.json", Usage: "configuration `FILE` (re-read when it changes, and on SIGHUP)"},
			&cli.StringFlag{Name: "status", Value: "/var/lib/drover/mesh/status.json", Usage: "status `FILE` written for `drover ingress ls` (empty: none)"},
			&cli.StringFlag{Name: "docker-socket", Value: "/var/run/docker.sock", Usage: "the engine's socket, for the health of local replicas (empty: none)"},
			&cli.StringFlag{Name: "local-range", Usage: "make the addresses of `CIDR` local on the host (the services' virtual addresses; needs NET_ADMIN), at start and every 2 s"},
			&cli.DurationFlag{Name: "poll", Value: 250 * time.Millisecond, Usage: "how often the configuration file is looked at"},
		},
		Action: func(c *cli.Context) error {
			log := zerolog.New(stdio.Stderr).With().Timestamp().Str("component", "proxy").Logger()
			if h, err := os.Hostname(); err == nil {
				log = log.With().Str("host", h).Logger()
			}
			return proxy.Run(c.Context, proxy.Options{
				Config:     c.String("config"),
				Status:     c.String("status"),
				Docker:     c.String("docker-socket"),
				Poll:       c.Duration("poll"),
				Log:        log,
				Version:    Version,
				LocalRange: c.String("local-range"),
			})
		},
	}
}
