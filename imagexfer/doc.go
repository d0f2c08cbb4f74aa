// Package imagexfer moves images to hosts without a registry: it reads
// image archives (`docker save` tarballs, OCI image layouts and their
// multi-platform indexes, via go-containerregistry), picks for each host
// the variant of its platform, and sends it to the hosts that lack it.
package imagexfer
