// Package ssh is drover's transport: it runs commands and transfers files
// on cluster hosts over SSH, with no agent installed on them.
//
// One connection per host per run. A Pool dials each host at most once,
// shares that dial between concurrent callers, and remembers a failure so
// an unreachable host costs one ConnectTimeout, not one per task.
// Commands and SFTP transfers are sessions multiplexed over the
// connection, bounded below sshd's MaxSessions. Keepalives detect hosts
// that vanish without closing the connection.
//
// Every wait is bounded. ConnectTimeout bounds the dial of the whole hop
// chain, the handshake included, also over a tunnel through a jump host
// (whose channels have no deadlines: the handshake runs beside the
// context and the connection is closed when it ends). Cmd.Timeout bounds
// a command, FileTimeout a file operation; ctx ends any of them at once.
// Pool.Close does not wait for a hung dial. Pool.Runner redials a host
// whose connection died under a command, once per run, and runs the
// command again only if it had not started or is Idempotent.
//
// Argv only. sshd runs every command line through the user's login shell,
// so the package never accepts a command string: Cmd.Args is an argv and
// Join (with Quote) is the single place where a command line is built.
// Pipelines are passed as sh -c with the script and its arguments kept
// apart. FuzzQuote checks against a real /bin/sh that no argument can
// break out of its quotes.
//
// Host keys are verified against a known_hosts file for every hop,
// including ProxyJump hosts. An unknown host is refused with a
// *HostKeyError showing its fingerprint, unless AcceptNewHostKeys is set
// (OpenSSH's StrictHostKeyChecking=accept-new), in which case the key is
// recorded, under a file lock. A changed key is always refused: it is
// indistinguishable from a man-in-the-middle. Host key algorithms are
// ordered so that the server presents the key type known_hosts holds.
//
// Authentication uses ssh-agent keys and identity files; encrypted files
// are decrypted with Config.Passphrase. The package reads no environment
// variables and has no global state: the caller passes SSH_AUTH_SOCK and
// the passphrase in Config.
//
// Errors are typed (DialError, HostKeyError, IdentityError, ExitError,
// CommandTimeoutError, ConnectionLostError, HostError) and Reason turns any of them into a short phrase for
// per-host status tables.
package ssh
