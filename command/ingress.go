package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/mesh"
	"github.com/drover-sh/drover/mesh/proxy"
)

func ingressCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "ingress",
		Usage: "the routing mesh: published ports answered on every node (docs/networking.md)",
		Subcommands: []*cli.Command{{
			Name:      "ls",
			Aliases:   []string{"list"},
			Usage:     "show each host's routes and their backends' health, as its proxy sees them",
			ArgsUsage: " ",
			Action:    func(c *cli.Context) error { return runIngressLs(c, stdio) },
		}},
	}
}

// ingressRow is one backend of one route on one host.
type ingressRow struct {
	Host  string `json:"host"`
	Proxy string `json:"proxy"` // the container's state: running, exited, none, unreachable
	// Platform is the proxy's (its image's drover binary), e.g. linux/386.
	Platform string `json:"proxy_platform,omitempty"`
	Route    string `json:"route"`
	Protocol string `json:"protocol"`
	Listen   string `json:"listen"`
	Backend  string `json:"backend,omitempty"`
	Replica  string `json:"replica,omitempty"`
	// Health is up, down, or unknown (the proxy wrote no status yet).
	Health string `json:"health"`
	Up     bool   `json:"up"`
	Active int64  `json:"active"` // connections being forwarded
	Error  string `json:"error,omitempty"`
}

// proxyView is a host's proxy as `node inspect` shows it.
type proxyView struct {
	Container string `json:"container"` // running, exited, …, or none
	ID        string `json:"id,omitempty"`
	Image     string `json:"image,omitempty"`
	Version   string `json:"version,omitempty"`
	Platform  string `json:"platform,omitempty"` // of its drover binary
	Started   string `json:"started_at,omitempty"`
	Routes    int    `json:"routes"`
	Error     string `json:"error,omitempty"`
}

func runIngressLs(c *cli.Context, stdio IO) error {
	if c.NArg() > 0 {
		return fmt.Errorf("ingress ls takes no arguments")
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	names := e.inv.Names()
	per := make([][]ingressRow, len(names))
	fanout.Each(c.Context, e.parallel, names, func(ctx context.Context, i int, name string) error {
		per[i] = e.hostIngress(ctx, name)
		return nil
	})
	if err := c.Context.Err(); err != nil {
		return err
	}
	rows := []ingressRow{}
	for _, r := range per {
		rows = append(rows, r...)
	}
	if e.output == "json" {
		return writeJSON(stdio.Stdout, rows)
	}
	t := newTable(stdio.Stdout, "HOST", "PROXY", "ROUTE", "LISTEN", "BACKEND", "REPLICA", "HEALTH", "ACTIVE")
	for _, r := range rows {
		health := r.Health
		if r.Error != "" {
			health += " (" + r.Error + ")"
		}
		active := "-"
		if r.Backend != "" {
			active = strconv.FormatInt(r.Active, 10)
		}
		proxy := r.Proxy
		if r.Platform != "" {
			proxy += " (" + r.Platform + ")"
		}
		t.row(r.Host, proxy, dash(r.Route), dash(r.Listen), dash(r.Backend), dash(r.Replica), dash(health), active)
	}
	return t.flush()
}

// hostProxy reads a host's proxy container and status.
func (e *runEnv) hostProxy(ctx context.Context, name string) (proxyView, *proxy.Status, error) {
	eng, err := e.engineFor(ctx, name)
	if err != nil {
		return proxyView{Container: "unreachable"}, nil, err
	}
	pc, ok, err := eng.InspectNamed(ctx, mesh.ContainerName)
	if err != nil {
		return proxyView{Container: "unknown"}, nil, err
	}
	if !ok || pc.Labels[mesh.LabelCluster] != e.inv.Cluster {
		return proxyView{Container: "none"}, nil, nil
	}
	v := proxyView{Container: pc.State, ID: pc.ID[:min(12, len(pc.ID))], Image: pc.Image, Version: pc.Labels[mesh.LabelVersion], Platform: pc.Labels[mesh.LabelPlatform], Started: pc.Started}
	st, err := mesh.ReadStatus(ctx, eng)
	if errors.Is(err, fs.ErrNotExist) {
		return v, nil, nil
	}
	if err != nil {
		return v, nil, err
	}
	for _, r := range st.Routes {
		if r.Gate == "" {
			v.Routes++
		}
	}
	return v, st, nil
}

func (e *runEnv) hostIngress(ctx context.Context, name string) []ingressRow {
	v, st, err := e.hostProxy(ctx, name)
	if err != nil {
		return []ingressRow{{Host: name, Proxy: v.Container, Health: "unknown", Error: err.Error()}}
	}
	if st == nil {
		return []ingressRow{{Host: name, Proxy: v.Container, Platform: v.Platform, Health: "-"}}
	}
	var rows []ingressRow
	for _, r := range st.Routes {
		if r.Gate != "" {
			continue // a replica's gate: shown through the routes it serves
		}
		base := ingressRow{Host: name, Proxy: v.Container, Platform: v.Platform, Route: r.Name, Protocol: string(r.Protocol), Listen: r.Listen, Error: r.Error}
		if len(r.Backends) == 0 {
			base.Health = "no backend"
			rows = append(rows, base)
			continue
		}
		for _, b := range r.Backends {
			row := base
			row.Backend, row.Replica, row.Up, row.Active = b.Address, b.Replica, b.Up, b.Active
			row.Health = "down"
			if b.Up {
				row.Health = "up"
			} else if b.Error != "" {
				row.Error = b.Error
			}
			rows = append(rows, row)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Listen < rows[j].Listen })
	if len(rows) == 0 {
		rows = append(rows, ingressRow{Host: name, Proxy: v.Container, Platform: v.Platform, Health: "-"})
	}
	return rows
}
