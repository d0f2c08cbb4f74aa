// Package imagebuild builds the images of services with a compose build:
// section (stack deploy --build, drover build): with the local docker CLI
// (DOCKER_HOST and docker contexts apply; buildx when it is installed,
// else the BuildKit built into CLIs up to 22.x, else the classic builder),
// or on a cluster host (x-drover.build_on) through its Engine API: its
// BuildKit, with a session served from here, else its classic builder.
// A built image is tagged REPOSITORY:TAG, TAG being
// the first 12 hex digits of its image ID, so that an unchanged build
// names the same image and rolls nothing out. Shipping the result to the
// hosts is imagexfer's.
//
// The package never prints: build output goes to a line callback.
package imagebuild
