// Package mesh is drover's routing mesh: it computes, from the desired
// services and the observed replicas, the configuration of the proxy on
// every host (Compute, a pure function), builds the proxy's image from
// drover's own binary (ProxyImage), and puts proxy, image and
// configuration on the hosts (Sync). The data plane itself is package
// mesh/proxy. docs/networking.md tells the design.
package mesh
