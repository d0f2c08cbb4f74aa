// Package proxy is the data plane of drover's routing mesh: the process that
// runs as `drover proxy` inside the per-host proxy container (host
// networking). It reads one JSON configuration file, listens on the routes'
// addresses and forwards TCP connections and UDP datagrams to the routes'
// backends, balancing over the healthy ones.
//
// It has no admin or reload endpoint: drover writes a new file next to the
// old one and renames it over (atomic), and the proxy notices the change
// (it polls the file, and re-reads at once on SIGHUP). A reload keeps the
// listeners whose address did not change and never touches established
// connections, so a backend removed from a route keeps its in-flight
// connections until they end: that is the drain.
//
// Health is active: every backend of a TCP route is connected to every
// Health.Interval; Fall failures in a row take it out of rotation, Rise
// successes bring it back. A failed dial while forwarding takes it out at
// once and the connection is retried on another backend. A gate route
// (Route.Gate) opens its listener only while the container it fronts is
// healthy by docker's own healthcheck, so the proxies on other hosts, which
// only see TCP, see a refused connection when a replica is unhealthy.
package proxy
