// Package sshtest runs in-process SSH servers on loopback for tests of
// package ssh and of the layers above it. A Server accepts public-key auth,
// runs "exec" requests through a Handler, serves the "sftp" subsystem on
// the real filesystem, forwards "direct-tcpip" channels (so it can act as a
// ProxyJump host) and answers keepalives. It is cheap enough to start a
// few hundred of them.
package sshtest
