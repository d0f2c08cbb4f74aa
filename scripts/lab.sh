#!/usr/bin/env bash
# lab.sh — a multi-host test lab for drover on one Linux machine (run as root).
#
# Every test host hK is a set of namespaces on this machine:
#   net   : netns $LAB_PREFIX-hK, a veth ($LAB_PREFIX-hK <-> eth0) on the bridge
#           $LAB_BRIDGE; address $LAB_SUBNET.(10+K)/24, default route via .1
#   mount : private tmpfs /run (own /run/docker.sock, /run/sshd), private
#           /var/lib/drover, /tmp, /etc/docker (engine ID), /etc/machine-id and
#           /root (an empty home: this machine's dotfiles stay out)
#           (bind mounts of $LAB_DIR/hK/...), fresh /proc and /sys for its
#           own pid and net namespace
#   uts   : hostname hK
#   pid   : its own pid namespace; killing its init (tini) kills every process
#           of the host at once, containers included (that is `stop`)
# and runs its own dockerd (with its own managed containerd) and sshd.
# Each engine is also reachable from the root namespace on
# $LAB_DIR/hK/docker.sock.
#
# Verbs:
#   up N            start h1..hN (idempotent), wait until ready, write
#                   inventory.yaml, known_hosts, id_ed25519 in $LAB_DIR
#   add hK PLATFORM start one extra host hK (K >= 4) of PLATFORM (linux/386, or
#                   linux/amd64 for a normal one), idempotent, ready when it
#                   returns. Not in inventory.yaml: its entry is in
#                   $LAB_DIR/hK/inventory-entry.yaml, its platform in
#                   $LAB_DIR/hK/platform; known_hosts has its key. A linux/386
#                   host runs Debian's i386 dockerd, containerd and runc (under
#                   setarch i686: uname -m and docker info say i686), installed
#                   once into $LAB_FOREIGN_ROOT/i386 (apt multiarch, libc6:i386)
#   down            kill everything, remove netns/veths/bridge; removes
#                   $LAB_DIR unless LAB_KEEP=1
#   stop hK         simulated crash: SIGKILL every process of hK (data kept);
#                   peers see RST/refused. For a silent power loss: cut, then stop
#   start hK        bring a stopped host back (same data-root)
#   cut hK | heal hK   take hK's link down / up (network partition)
#   status          one line per host
#   env             shell exports (eval "$(scripts/lab.sh env)")
#   load TAR [hK..] docker load TAR into the hosts' engines (default: those of
#                   inventory.yaml; an extra host gets its own platform's images)
#   exec hK CMD..   run CMD inside hK's namespaces (as if logged in there)
#   ssh hK [CMD..]  ssh root@hK with the lab key
#
# Environment (defaults):
#   LAB_DIR=/var/lib/drover-lab  LAB_SUBNET=10.77.0  LAB_BRIDGE=drlab0
#   LAB_PREFIX=drl  LAB_TIMEOUT=90 (seconds `up`/`start` wait for readiness)
#   LAB_KEEP=0 (down: keep $LAB_DIR)  LAB_STORAGE_DRIVER=auto (overlay2|vfs)
#   LAB_IPTABLES=auto (true|false: dockerd --iptables/--ip-masq per host)
#   LAB_DOCKERD_ARGS="" (extra dockerd flags)
#   LAB_FOREIGN_ROOT=/opt/drover-lab (engine binaries of other platforms, shared
#   by every lab of this machine and kept by `down`, like installed packages)
set -euo pipefail

LAB_DIR=${LAB_DIR:-/var/lib/drover-lab}
LAB_SUBNET=${LAB_SUBNET:-10.77.0}
LAB_BRIDGE=${LAB_BRIDGE:-drlab0}
LAB_PREFIX=${LAB_PREFIX:-drl}
LAB_TIMEOUT=${LAB_TIMEOUT:-90}
LAB_KEEP=${LAB_KEEP:-0}
LAB_STORAGE_DRIVER=${LAB_STORAGE_DRIVER:-auto}
LAB_IPTABLES=${LAB_IPTABLES:-auto}
LAB_DOCKERD_ARGS=${LAB_DOCKERD_ARGS:-}
LAB_FOREIGN_ROOT=${LAB_FOREIGN_ROOT:-/opt/drover-lab}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

LAB_DIR=${LAB_DIR%/}
MARKER=$LAB_DIR/.drover-lab
GW=$LAB_SUBNET.1

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit "${1:-2}"
}

# ---------------------------------------------------------------- helpers

hnum() { # h3 -> 3
	[[ $1 =~ ^h([0-9]+)$ ]] || die "bad host name '$1' (want h1, h2, ...)"
	echo "${BASH_REMATCH[1]}"
}
haddr() { echo "$LAB_SUBNET.$((10 + $(hnum "$1")))"; }
hns() { echo "$LAB_PREFIX-$1"; }
hveth() { echo "$LAB_PREFIX-$1"; }
hdir() { echo "$LAB_DIR/$1"; }
hsock() { echo "$LAB_DIR/$1/docker.sock"; }
# An extra host (`add`) has its platform in $LAB_DIR/hK/platform; the hosts of
# `up` have none and are the machine's own, linux/amd64.
hplatform() {
	local f
	f=$(hdir "$1")/platform
	if [[ -s $f ]]; then cat "$f"; else echo linux/amd64; fi
}
is_extra() { [[ -e $(hdir "$1")/platform ]]; }

check_names() {
	[[ $LAB_SUBNET =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "LAB_SUBNET must be three octets, e.g. 10.77.0"
	local longest="$LAB_PREFIX-h99p"
	((${#longest} <= 15)) || die "LAB_PREFIX '$LAB_PREFIX' too long: interface names are limited to 15 chars"
	((${#LAB_BRIDGE} <= 15)) || die "LAB_BRIDGE '$LAB_BRIDGE' longer than 15 chars"
	case $LAB_DIR in
	/run | /run/* | /var/run | /var/run/* | /tmp | /tmp/* | /var/lib/drover | /var/lib/drover/*)
		die "LAB_DIR must not be under /run, /tmp or /var/lib/drover (hosts mount private copies there)" ;;
	"" | /) die "LAB_DIR must not be /" ;;
	esac
}

# All hosts the lab knows, sorted by number: from $LAB_DIR/h*/ and the netns list.
known_hosts_list() {
	{
		local d
		for d in "$LAB_DIR"/h*/; do
			[[ -d $d ]] || continue
			d=${d%/}; d=${d##*/}
			[[ $d =~ ^h[0-9]+$ ]] && echo "$d"
		done
		ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$LAB_PREFIX-\(h[0-9]\+\)$/\1/p"
	} | sort -u | sort -t h -k2 -n
}

# The hosts of inventory.yaml: all but the extra ones.
inventory_hosts_list() {
	local h
	for h in $(known_hosts_list); do is_extra "$h" || echo "$h"; done
}

# The pid (root-ns view) of the host's init: the process in its netns that is
# pid 1 of a pid namespace one level below ours.
init_pid() {
	local ns p nspid
	ns=$(hns "$1")
	[[ -e /run/netns/$ns ]] || return 0
	for p in $(ip netns pids "$ns" 2>/dev/null); do
		nspid=$(awk '/^NSpid:/{ $1=""; print }' "/proc/$p/status" 2>/dev/null) || continue
		# shellcheck disable=SC2086
		set -- $nspid
		if [[ $# -eq 2 && $2 == 1 ]]; then echo "$p"; return 0; fi
	done
}

has_proc() { # host comm: is a process called comm running in the host's netns?
	local p
	for p in $(ip netns pids "$(hns "$1")" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "$2" ]] && return 0
	done
	return 1
}

docker_ok() { # host: does its engine answer on the shared socket?
	local s
	s=$(hsock "$1")
	[[ -S $s ]] || return 1
	timeout 5 docker -H "unix://$s" info --format '{{.ID}}' >/dev/null 2>&1
}

sshd_port_ok() { # host: does something accept TCP on addr:22?
	timeout 2 bash -c "exec 3<>/dev/tcp/$(haddr "$1")/22" 2>/dev/null
}

ssh_opts() {
	echo -i "$LAB_DIR/id_ed25519" -o "UserKnownHostsFile=$LAB_DIR/known_hosts" \
		-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=2 \
		-o LogLevel=ERROR -o IdentitiesOnly=yes -o IdentityAgent=none
}

ssh_ok() { # host: can we log in with the lab key and is the hostname right?
	local out
	# shellcheck disable=SC2046
	out=$(timeout 8 ssh $(ssh_opts) "root@$(haddr "$1")" hostname 2>/dev/null) || return 1
	[[ $out == "$1" ]]
}

tail_logs() {
	local h=$1 f
	for f in init.log dockerd.log sshd.log; do
		[[ -s $(hdir "$h")/$f ]] || continue
		printf -- '----- %s/%s (last 25 lines) -----\n' "$(hdir "$h")" "$f" >&2
		tail -n 25 "$(hdir "$h")/$f" >&2
	done
}

# ---------------------------------------------------------------- setup

ensure_packages() {
	local missing=() pkgs=()
	command -v dockerd >/dev/null || missing+=(dockerd)
	command -v docker >/dev/null || missing+=(docker)
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	command -v tini >/dev/null || command -v docker-init >/dev/null || missing+=(tini)
	[[ -x /usr/sbin/sshd ]] || missing+=(sshd)
	command -v ssh >/dev/null || missing+=(ssh)
	command -v ssh-keygen >/dev/null || missing+=(ssh-keygen)
	command -v ip >/dev/null || missing+=(ip)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v nsenter >/dev/null || missing+=(nsenter)
	command -v unshare >/dev/null || missing+=(unshare)
	# e2e: a non-root SSH user with ssh.sudo: true
	command -v sudo >/dev/null || missing+=(sudo)
	# e2e: a static /bin/sh for a shell healthcheck in a FROM-scratch image
	[[ -x /bin/busybox ]] || missing+=(busybox)
	((${#missing[@]} == 0)) && return 0
	log "missing: ${missing[*]} — installing Debian packages"
	local m
	for m in "${missing[@]}"; do
		case $m in
		dockerd | docker | containerd | runc | tini) pkgs+=(docker.io containerd runc tini) ;;
		sshd | ssh | ssh-keygen) pkgs+=(openssh-server openssh-client) ;;
		ip) pkgs+=(iproute2) ;;
		iptables) pkgs+=(iptables) ;;
		nsenter | unshare) pkgs+=(util-linux) ;;
		sudo) pkgs+=(sudo) ;;
		busybox) pkgs+=(busybox-static) ;;
		esac
	done
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
	command -v apt-get >/dev/null || die "apt-get not found; install ${pkgs[*]} by hand"
	apt-get update -q >&2 || die "apt-get update failed"
	apt_install -q "${pkgs[@]}"
}

apt_install() { # [-q|-qq] PKG...: apt-get install, no service of theirs started
	local quiet=$1 rc=0 policy_added=0
	shift
	# Keep the packages' init scripts from starting (or, for an upgraded
	# libc, restarting) a root-namespace dockerd/sshd.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		policy_added=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$quiet" --no-install-recommends "$@" >&2 || rc=$?
	((policy_added)) && rm -f /usr/sbin/policy-rc.d
	((rc == 0)) || die "apt-get install $* failed"
}

kernel_setup() {
	modprobe overlay 2>/dev/null || true
	modprobe br_netfilter 2>/dev/null || true
	modprobe veth 2>/dev/null || true
	modprobe bridge 2>/dev/null || true
	# Bridged lab traffic must not be filtered by the root namespace's
	# FORWARD chain (a root dockerd sets its policy to DROP).
	if [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && command -v iptables >/dev/null; then
		if ! iptables -w -C FORWARD -i "$LAB_BRIDGE" -o "$LAB_BRIDGE" -j ACCEPT 2>/dev/null; then
			iptables -w -I FORWARD 1 -i "$LAB_BRIDGE" -o "$LAB_BRIDGE" -j ACCEPT 2>/dev/null || true
		fi
	fi
}

ensure_labdir() {
	if [[ -d $LAB_DIR && ! -e $MARKER ]] && [[ -n $(ls -A "$LAB_DIR" 2>/dev/null) ]]; then
		die "$LAB_DIR exists, is not empty and is not a lab dir (no $MARKER)"
	fi
	mkdir -p "$LAB_DIR"
	chmod 0755 "$LAB_DIR"
	touch "$MARKER"
	if [[ ! -s $LAB_DIR/id_ed25519 ]]; then
		rm -f "$LAB_DIR/id_ed25519" "$LAB_DIR/id_ed25519.pub"
		ssh-keygen -q -t ed25519 -N '' -C "drover-lab" -f "$LAB_DIR/id_ed25519"
	fi
	chmod 0600 "$LAB_DIR/id_ed25519"
	cp "$LAB_DIR/id_ed25519.pub" "$LAB_DIR/authorized_keys"
	chmod 0644 "$LAB_DIR/authorized_keys"
}

storage_driver() {
	if [[ $LAB_STORAGE_DRIVER != auto ]]; then echo "$LAB_STORAGE_DRIVER"; return; fi
	if [[ -s $LAB_DIR/storage-driver ]]; then cat "$LAB_DIR/storage-driver"; return; fi
	local t=$LAB_DIR/.ovltest d=vfs
	rm -rf "$t"; mkdir -p "$t"/{l,u,w,m}
	echo x >"$t/l/f"
	if unshare --mount --propagation private sh -c \
		"mount -t overlay overlay -o lowerdir=$t/l,upperdir=$t/u,workdir=$t/w $t/m && test -f $t/m/f" 2>/dev/null; then
		d=overlay2
	fi
	rm -rf "$t"
	echo "$d" >"$LAB_DIR/storage-driver"
	echo "$d"
}

iptables_mode() { # needs a netns to try iptables in
	if [[ $LAB_IPTABLES != auto ]]; then echo "$LAB_IPTABLES"; return; fi
	if [[ -s $LAB_DIR/iptables-mode ]]; then cat "$LAB_DIR/iptables-mode"; return; fi
	local m=false
	if command -v iptables >/dev/null &&
		nsenter --net="/run/netns/$1" iptables -w -t nat -S >/dev/null 2>&1 &&
		nsenter --net="/run/netns/$1" iptables -w -t filter -S >/dev/null 2>&1; then
		m=true
	fi
	echo "$m" >"$LAB_DIR/iptables-mode"
	echo "$m"
}

ensure_bridge() {
	if ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
		ip link add "$LAB_BRIDGE" type bridge stp_state 0 forward_delay 0
	fi
	ip addr replace "$GW/24" dev "$LAB_BRIDGE"
	ip link set "$LAB_BRIDGE" up
}

ensure_net() { # host
	local h=$1 ns veth addr
	ns=$(hns "$h"); veth=$(hveth "$h"); addr=$(haddr "$h")
	[[ -e /run/netns/$ns ]] || ip netns add "$ns"
	if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
		ip link del "$veth" 2>/dev/null || true
		ip link add "$veth" type veth peer name "${veth}p"
		ip link set "${veth}p" netns "$ns"
		ip -n "$ns" link set "${veth}p" name eth0
	fi
	ip link set "$veth" master "$LAB_BRIDGE"
	ip link set "$veth" up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr replace "$addr/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route replace default via "$GW" dev eth0
	# Containers of this host reach other hosts through it.
	nsenter --net="/run/netns/$ns" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
}

# ---------------------------------------------------------------- other platforms

# A linux/386 host runs Debian's i386 engine: the x86_64 kernel runs 32-bit
# x86 programs natively (IA32 emulation), and under `setarch i686` uname -m,
# which dockerd reports as its Architecture, says i686. The packages below
# are downloaded once and extracted into $LAB_FOREIGN_ROOT/i386, never
# installed: the machine's amd64 docker.io, containerd and runc stay as they
# are (the other hosts and the local docker CLI use them). Only libc6:i386 is
# installed (multiarch, beside the amd64 one): the binaries' interpreter is
# /lib/ld-linux.so.2. The rest of what they link (dockerd: libsystemd,
# libdevmapper; runc: libseccomp) is in the host's own /etc/ld.so.cache,
# made at its start from $LAB_FOREIGN_ROOT/i386/ld.so.conf (LD_LIBRARY_PATH
# would not do: runc re-executes itself as `runc init` with an empty
# environment).
I386_DEBS=(docker.io containerd runc tini
	libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblzma5 libzstd1 liblz4-1
	libdevmapper1.02.1 libselinux1 libpcre2-8-0 libudev1 libseccomp2)

check_platform_name() { # PLATFORM: die unless the lab can run it
	case $1 in
	linux/amd64 | linux/386) ;;
	*) die "platform '$1' is not supported (want linux/386, or linux/amd64 for a normal host)" ;;
	esac
}

platform_arch() { # PLATFORM -> the Debian architecture of its engine, empty for the machine's own
	case $1 in
	linux/386) echo i386 ;;
	esac
}

platform_uname() { # PLATFORM -> what dockerd's Architecture (uname -m) must say
	case $1 in
	linux/386) echo i686 ;;
	*) echo x86_64 ;;
	esac
}

foreign_root() { echo "$LAB_FOREIGN_ROOT/$1"; } # Debian arch -> its engine's files

ensure_platform() { # PLATFORM: its engine binaries, installed once per machine
	local arch
	arch=$(platform_arch "$1")
	[[ -n $arch ]] || return 0
	[[ -e $(foreign_root "$arch")/.complete && -e /lib/ld-linux.so.2 ]] && return 0
	[[ $(uname -m) == x86_64 ]] || die "$1 hosts need an x86_64 machine (this one is $(uname -m))"
	mkdir -p "$LAB_FOREIGN_ROOT"
	# Every lab of this machine shares the binaries: one installs, the others wait.
	(
		flock -w 600 8 || die "another lab.sh holds $LAB_FOREIGN_ROOT/.lock"
		install_i386
	) 8>"$LAB_FOREIGN_ROOT/.lock"
}

install_i386() {
	local root t0=$SECONDS tmp deb
	root=$(foreign_root i386)
	[[ -e $root/.complete && -e /lib/ld-linux.so.2 ]] && return 0
	command -v apt-get >/dev/null || die "apt-get not found: a linux/386 host needs Debian's i386 packages"
	if ! dpkg --print-foreign-architectures | grep -qx i386; then
		log "linux/386: adding the i386 architecture to dpkg (multiarch)"
		dpkg --add-architecture i386
	fi
	if ! apt-cache show docker.io:i386 >/dev/null 2>&1; then
		log "linux/386: apt-get update (i386 package lists)"
		apt-get update -qq >&2 || die "apt-get update failed"
	fi
	if [[ ! -e /lib/ld-linux.so.2 ]]; then
		log "linux/386: installing libc6:i386"
		apt_install -qq libc6:i386
	fi
	if [[ ! -e $root/.complete ]]; then
		log "linux/386: downloading ${I386_DEBS[*]} (i386) into $root"
		tmp=$(mktemp -d "$LAB_FOREIGN_ROOT/.i386.XXXXXX")
		# The lists may be older than the archive (a package was superseded): update once.
		if ! (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "${I386_DEBS[@]/%/:i386}") >&2; then
			apt-get update -qq >&2 || true
			(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "${I386_DEBS[@]/%/:i386}") >&2 ||
				{ rm -rf "$tmp"; die "apt-get download of the i386 packages failed"; }
		fi
		mkdir "$tmp/root"
		for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
		(cd "$tmp" && ls -- *.deb) >"$tmp/root/.debs"
		local out
		if ! out=$("$tmp/root/usr/bin/tini-static" --version 2>&1); then
			rm -rf "$tmp"
			die "this kernel does not run 32-bit x86 programs ($out): it needs CONFIG_IA32_EMULATION (and not ia32_emulation=false on its command line)"
		fi
		local bin
		for bin in usr/sbin/dockerd usr/bin/containerd usr/sbin/runc usr/bin/docker; do
			if ! out=$(LD_LIBRARY_PATH="$tmp/root/lib/i386-linux-gnu:$tmp/root/usr/lib/i386-linux-gnu" "$tmp/root/$bin" --version 2>&1); then
				rm -rf "$tmp"
				die "linux/386: $bin does not run: $out"
			fi
		done
		printf 'include /etc/ld.so.conf.d/*.conf\n%s\n%s\n' "$root/lib/i386-linux-gnu" "$root/usr/lib/i386-linux-gnu" >"$tmp/root/ld.so.conf"
		rm -rf "$root"
		mv "$tmp/root" "$root"
		rm -rf "$tmp"
		touch "$root/.complete"
	fi
	log "linux/386: engine ready in $root ($((SECONDS - t0))s)"
}

# The lines of init.sh that put the engine of arch over the machine's own
# inside a host (its mount namespace is private): its libraries in the
# host's ld.so.cache (the machine's own libraries stay in it); dockerd, containerd,
# its shims, runc, docker-init, docker-proxy and the docker CLI that
# `docker system dial-stdio` over SSH runs are all the host's platform's,
# wherever in PATH the machine has its own (a docker CLI in /usr/local/bin).
foreign_binds() { # arch
	local root f name dir
	root=$(foreign_root "$1")
	echo "ldconfig -X -C /run/ld.so.cache -f $root/ld.so.conf 2>/dev/null"
	echo "mount --bind /run/ld.so.cache /etc/ld.so.cache"
	while read -r f; do
		name=${f##*/}
		for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin; do
			[[ -f $dir/$name && ! -L $dir/$name ]] && echo "mount --bind $root/${f#./} $dir/$name"
		done
	done < <(cd "$root" && find ./usr/sbin ./usr/bin -type f | sort -s -t/ -k4,4 -u)
}

write_host_files() { # host
	local h=$1 d addr
	d=$(hdir "$h"); addr=$(haddr "$h")
	mkdir -p "$d"/{docker,drover,tmp,etc-docker,root}
	chmod 700 "$d/root"
	chmod 1777 "$d/tmp"
	[[ -s $d/etc-docker/daemon.json ]] || echo '{}' >"$d/etc-docker/daemon.json"
	if [[ ! -s $d/machine-id ]]; then
		od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$d/machine-id"
		echo >>"$d/machine-id"
	fi
	if [[ ! -s $d/ssh_host_ed25519_key ]]; then
		rm -f "$d/ssh_host_ed25519_key" "$d/ssh_host_ed25519_key.pub"
		ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$d/ssh_host_ed25519_key"
	fi
	local usepam=no
	# Without PAM, sshd refuses even key logins for a locked root ("!" in shadow).
	if [[ $(getent shadow root 2>/dev/null | cut -d: -f2) == '!'* ]]; then usepam=yes; fi
	cat >"$d/sshd_config" <<EOF
# generated by lab.sh for $h
Port 22
ListenAddress $addr
HostKey $d/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $LAB_DIR/authorized_keys
StrictModes no
UsePAM $usepam
Subsystem sftp internal-sftp
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxSessions 30
MaxStartups 100
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AcceptEnv LANG LC_*
LogLevel INFO
EOF
}

write_init() { # host — the script pid 1 (under tini) runs inside the namespaces
	local h=$1 d addr drv ipt plat arch binds=""
	d=$(hdir "$h"); addr=$(haddr "$h")
	drv=$(storage_driver)
	ipt=$(iptables_mode "$(hns "$h")")
	plat=$(hplatform "$h")
	arch=$(platform_arch "$plat")
	if [[ -n $arch ]]; then
		binds="# the engine of $plat (lab.sh add): $(foreign_root "$arch")
$(foreign_binds "$arch")"
	fi
	cat >"$d/init.sh" <<EOF
#!/bin/bash
# generated by lab.sh: init of lab host $h (runs in its mount/uts/pid/net namespaces)
set -eu
echo "== \$(date '+%F %T') starting $h"
# private /run (own docker.sock, sshd privsep dir), keeping the cgroup mounts
# across a fresh sysfs that shows this network namespace.
mount -t tmpfs -o mode=0755,nosuid,nodev,size=256m tmpfs /run
mkdir -p /run/sshd /run/lock /run/.cg
chmod 1777 /run/lock
if mount --rbind /sys/fs/cgroup /run/.cg 2>/dev/null; then
	if mount -t sysfs sysfs /sys 2>/dev/null; then
		mount --move /run/.cg /sys/fs/cgroup
	else
		umount -l /run/.cg
	fi
fi
rmdir /run/.cg 2>/dev/null || true
mkdir -p /var/lib/drover /etc/docker
mount --bind $d/drover /var/lib/drover
mount --bind $d/tmp /tmp
# own /etc/docker: daemon.json and key.json (the engine ID) are per host
mount --bind $d/etc-docker /etc/docker
if [ -f /etc/machine-id ]; then mount --bind $d/machine-id /etc/machine-id; fi
# own (empty) home for root: a host does not share this machine's dotfiles,
# whose login scripts would run on every SSH session
mount --bind $d/root /root
$binds
hostname $h
echo $h >/run/lab-host
exec </dev/null
dockerd \\
	--data-root $d/docker \\
	--exec-root /run/docker-exec \\
	--pidfile /run/docker.pid \\
	-H unix:///run/docker.sock -H unix://$d/docker.sock \\
	--storage-driver $drv \\
	--exec-opt native.cgroupdriver=cgroupfs \\
	--cgroup-parent /$(hns "$h") \\
	--iptables=$ipt --ip-masq=$ipt --userland-proxy=true \\
	$LAB_DOCKERD_ARGS >>$d/dockerd.log 2>&1 &
/usr/sbin/sshd -D -e -f $d/sshd_config >>$d/sshd.log 2>&1 &
wait || true
echo "== \$(date '+%F %T') dockerd and sshd have exited; keeping the namespaces"
exec sleep infinity
EOF
	chmod 0755 "$d/init.sh"
}

start_host() { # host (network must exist)
	local h=$1 d ns tini
	d=$(hdir "$h"); ns=$(hns "$h")
	if [[ -n $(init_pid "$h") ]]; then return 0; fi
	ensure_platform "$(hplatform "$h")"
	# Leftovers of a crash: a stale socket must not look alive.
	rm -f "$d/docker.sock"
	write_host_files "$h"
	write_init "$h"
	tini=$(command -v tini || command -v docker-init)
	local pers=()
	# Every process of the host (dockerd, sshd's sessions, containers) says
	# the host's machine in uname -m.
	[[ $(hplatform "$h") == linux/386 ]] && pers=(setarch i686)
	setsid nsenter --net="/run/netns/$ns" -- \
		unshare --mount --uts --pid --fork --mount-proc --propagation private -- \
		"${pers[@]}" "$tini" -s -g -- /bin/bash "$d/init.sh" \
		</dev/null >>"$d/init.log" 2>&1 9>&- &
	disown || true
}

wait_ready() { # hosts...
	local deadline=$((SECONDS + LAB_TIMEOUT)) h pending=("$@") left
	while ((${#pending[@]})); do
		left=()
		for h in "${pending[@]}"; do
			if [[ -z $(init_pid "$h") ]]; then
				# give the launcher a moment to enter the namespaces
				if ((SECONDS > deadline - LAB_TIMEOUT + 5)); then
					log "$h: its init died"; tail_logs "$h"; die "$h did not start"
				fi
				left+=("$h"); continue
			fi
			if docker_ok "$h" && ssh_ok "$h"; then
				continue
			fi
			# fail fast when a daemon has died instead of waiting for the timeout
			if ((SECONDS > deadline - LAB_TIMEOUT + 5)); then
				local d
				for d in dockerd sshd; do
					if ! has_proc "$h" "$d"; then
						log "$h: $d is not running"; tail_logs "$h"; die "$h did not start"
					fi
				done
			fi
			left+=("$h")
		done
		pending=("${left[@]+"${left[@]}"}")
		((${#pending[@]})) || break
		if ((SECONDS >= deadline)); then
			for h in "${pending[@]}"; do
				local why=""
				docker_ok "$h" || why+=" dockerd(not answering on $(hsock "$h"))"
				ssh_ok "$h" || why+=" sshd(no login on $(haddr "$h"):22)"
				log "$h not ready after ${LAB_TIMEOUT}s:$why"
				tail_logs "$h"
			done
			die "timeout waiting for ${pending[*]}"
		fi
		sleep 0.3
	done
}

inventory_entry() { # host: its entry under hosts: of an inventory
	local h=$1 n zones=(a b c) k
	n=$(hnum "$h")
	k=${zones[$(((n - 1) % 3))]}
	echo "  - name: $h"
	echo "    address: $(haddr "$h")"
	if is_extra "$h"; then
		echo "    ssh: {user: root}"
		echo "    role: worker"
		echo "    labels: {zone: $k}"
		return
	fi
	if ((n == 1)); then echo "    role: manager"; else echo "    role: worker"; fi
	if ((n == 3)); then
		echo "    labels: {zone: $k, storage: raid}"
	else
		echo "    labels: {zone: $k}"
	fi
}

write_lab_files() {
	local hosts h
	mapfile -t hosts < <(known_hosts_list)
	: >"$LAB_DIR/known_hosts.tmp"
	for h in "${hosts[@]}"; do
		[[ -s $(hdir "$h")/ssh_host_ed25519_key.pub ]] || continue
		echo "$(haddr "$h") $(cut -d' ' -f1,2 "$(hdir "$h")/ssh_host_ed25519_key.pub")" >>"$LAB_DIR/known_hosts.tmp"
	done
	mv "$LAB_DIR/known_hosts.tmp" "$LAB_DIR/known_hosts"
	# The extra hosts stay out of inventory.yaml (tests assume h1..hN of up
	# there); each has its entry beside its data, to append under hosts:.
	for h in "${hosts[@]}"; do
		if is_extra "$h" && [[ -d $(hdir "$h") ]]; then
			inventory_entry "$h" >"$(hdir "$h")/inventory-entry.yaml.tmp"
			mv "$(hdir "$h")/inventory-entry.yaml.tmp" "$(hdir "$h")/inventory-entry.yaml"
		fi
	done
	mapfile -t hosts < <(inventory_hosts_list)
	{
		echo "cluster: lab"
		echo "ssh:"
		echo "  user: root"
		echo "  port: 22"
		echo "  identity_file: $LAB_DIR/id_ed25519"
		echo "  known_hosts: $LAB_DIR/known_hosts"
		echo "  connect_timeout: 2s"
		echo "state:"
		echo "  backend: local"
		echo "  path: drover.state.json"
		echo "hosts:"
		for h in "${hosts[@]}"; do inventory_entry "$h"; done
	} >"$LAB_DIR/inventory.yaml.tmp"
	mv "$LAB_DIR/inventory.yaml.tmp" "$LAB_DIR/inventory.yaml"
}

# ---------------------------------------------------------------- verbs

cmd_up() {
	local n=${1:-}
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 99)) || die "usage: lab.sh up N (1..99)"
	check_names
	ensure_packages
	kernel_setup
	ensure_labdir
	ensure_bridge
	local hosts=() h k started=()
	for ((k = 1; k <= n; k++)); do hosts+=("h$k"); done
	for h in $(known_hosts_list); do
		[[ " ${hosts[*]} " == *" $h "* ]] || { [[ -n $(init_pid "$h") ]] && hosts+=("$h"); } || true
	done
	for h in "${hosts[@]}"; do
		ensure_net "$h"
		mkdir -p "$(hdir "$h")"
		if [[ -z $(init_pid "$h") ]]; then
			start_host "$h"
			started+=("$h")
		fi
	done
	write_lab_files
	if ((${#started[@]})); then log "started ${started[*]}"; else log "all hosts already running"; fi
	wait_ready "${hosts[@]}"
	log "ready: ${hosts[*]} (inventory: $LAB_DIR/inventory.yaml)"
}

cmd_add() {
	local h=${1:-} plat=${2:-} n
	(($# == 2)) || die "usage: lab.sh add hK PLATFORM (linux/386, or linux/amd64)"
	n=$(hnum "$h")
	((n >= 4)) || die "add $h: extra hosts are h4 and above (h1..h3 are those of up)"
	check_platform_name "$plat"
	check_names
	if [[ -d $(hdir "$h") ]] && ! is_extra "$h"; then
		die "add $h: $h is a host of up (in inventory.yaml), not an extra one"
	fi
	if is_extra "$h" && [[ $(hplatform "$h") != "$plat" ]]; then
		die "add $h $plat: $h exists as a $(hplatform "$h") host (lab.sh down, or another hK)"
	fi
	ensure_packages
	ensure_platform "$plat"
	kernel_setup
	ensure_labdir
	ensure_bridge
	mkdir -p "$(hdir "$h")"
	echo "$plat" >"$(hdir "$h")/platform"
	ensure_net "$h"
	if [[ -z $(init_pid "$h") ]]; then
		start_host "$h"
		log "started $h ($plat)"
	fi
	write_lab_files
	wait_ready "$h"
	check_host_platform "$h"
	log "ready: $h ($plat; inventory entry: $(hdir "$h")/inventory-entry.yaml)"
}

check_host_platform() { # host: its engine says its platform
	local h=$1 plat want got
	plat=$(hplatform "$h")
	want="linux $(platform_uname "$plat")"
	got=$(timeout 10 docker -H "unix://$(hsock "$h")" info --format '{{.OSType}} {{.Architecture}}' 2>&1) || true
	[[ $got == "$want" ]] || { tail_logs "$h"; die "$h: docker info says '$got', want '$want' ($plat)"; }
}

kill_host() { # host: SIGKILL everything in its namespaces
	local h=$1 ns p i
	ns=$(hns "$h")
	p=$(init_pid "$h")
	[[ -n $p ]] && kill -KILL "$p" 2>/dev/null || true
	# Anything else that entered the netns (e.g. `lab.sh exec`, nsenter shells).
	for ((i = 0; i < 100; i++)); do
		local pids
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		# processes in the host's container cgroups (should be gone with the pid ns)
		local cg
		for cg in /sys/fs/cgroup/pids/"$ns" /sys/fs/cgroup/memory/"$ns"; do
			[[ -d $cg ]] && pids+=" $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')"
		done
		pids=$(echo "$pids" | xargs)
		[[ -z $pids ]] && break
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	rm -f "$(hsock "$h")"
}

cmd_stop() {
	[[ $# -ge 1 ]] || die "usage: lab.sh stop hK..."
	local h
	for h in "$@"; do
		hnum "$h" >/dev/null
		[[ -d $(hdir "$h") ]] || die "$h is not part of the lab in $LAB_DIR"
		kill_host "$h"
		log "$h stopped (killed)"
	done
}

cmd_start() {
	[[ $# -ge 1 ]] || die "usage: lab.sh start hK..."
	check_names
	kernel_setup
	ensure_bridge
	local h
	for h in "$@"; do
		hnum "$h" >/dev/null
		[[ -d $(hdir "$h") ]] || die "$h is not part of the lab in $LAB_DIR (use: up N)"
		ensure_net "$h"
		start_host "$h"
	done
	write_lab_files
	wait_ready "$@"
	for h in "$@"; do is_extra "$h" && check_host_platform "$h"; done
	log "started: $*"
}

cmd_cut() {
	local h
	[[ $# -ge 1 ]] || die "usage: lab.sh cut hK..."
	for h in "$@"; do ip link set "$(hveth "$h")" down; log "$h cut off"; done
}

cmd_heal() {
	local h
	[[ $# -ge 1 ]] || die "usage: lab.sh heal hK..."
	for h in "$@"; do ip link set "$(hveth "$h")" up; log "$h healed"; done
}

cmd_status() {
	local h any=0 net ssh dock proc
	for h in $(known_hosts_list); do
		any=1
		if ip link show "$(hveth "$h")" 2>/dev/null | grep -q 'state UP\|,UP'; then net='up'; else net='cut'; fi
		[[ -n $(init_pid "$h") ]] && proc=running || proc=stopped
		sshd_port_ok "$h" && ssh=up || ssh=down
		docker_ok "$h" && dock=up || dock=down
		printf '%-4s %-15s %-8s net=%-4s sshd=%-4s dockerd=%-4s sock=%s platform=%s\n' \
			"$h" "$(haddr "$h")" "$proc" "$net" "$ssh" "$dock" "$(hsock "$h")" "$(hplatform "$h")"
	done
	((any)) || echo "no lab hosts in $LAB_DIR"
}

cmd_env() {
	local hosts=() extra=() h H
	mapfile -t hosts < <(inventory_hosts_list)
	for h in $(known_hosts_list); do is_extra "$h" && extra+=("$h"); done
	echo "export LAB_DIR=$LAB_DIR"
	echo "export LAB_INVENTORY=$LAB_DIR/inventory.yaml"
	echo "export LAB_SSH_KEY=$LAB_DIR/id_ed25519"
	echo "export LAB_KNOWN_HOSTS=$LAB_DIR/known_hosts"
	echo "export LAB_SUBNET=$LAB_SUBNET"
	echo "export LAB_BRIDGE=$LAB_BRIDGE"
	echo "export LAB_PREFIX=$LAB_PREFIX"
	echo "export LAB_HOSTS=\"${hosts[*]+${hosts[*]}}\""
	echo "export LAB_EXTRA_HOSTS=\"${extra[*]+${extra[*]}}\""
	for h in "${hosts[@]+"${hosts[@]}"}" "${extra[@]+"${extra[@]}"}"; do
		H=${h^^}
		echo "export LAB_${H}_ADDR=$(haddr "$h")"
		echo "export LAB_${H}_DOCKER_HOST=unix://$(hsock "$h")"
		echo "export LAB_${H}_PLATFORM=$(hplatform "$h")"
	done
}

cmd_load() {
	local tar=${1:-}
	[[ -n $tar ]] || die "usage: lab.sh load IMAGE_TAR [hK ...]"
	[[ -f $tar ]] || die "no such file: $tar"
	shift
	local hosts=("$@") h pids=() rc=0 i
	((${#hosts[@]})) || mapfile -t hosts < <(inventory_hosts_list)
	((${#hosts[@]})) || die "no lab hosts"
	for h in "${hosts[@]}"; do
		docker -H "unix://$(hsock "$h")" load -q -i "$tar" >"$(hdir "$h")/load.out" 2>&1 &
		pids+=($!)
	done
	for i in "${!hosts[@]}"; do
		h=${hosts[$i]}
		if wait "${pids[$i]}"; then
			sed "s/^/$h: /" "$(hdir "$h")/load.out"
		else
			rc=1; log "$h: load failed:"; cat "$(hdir "$h")/load.out" >&2
		fi
		rm -f "$(hdir "$h")/load.out"
	done
	return $rc
}

cmd_exec() {
	local h=${1:-}
	[[ -n $h ]] || die "usage: lab.sh exec hK CMD..."
	shift
	local p
	p=$(init_pid "$h")
	[[ -n $p ]] || die "$h is not running"
	(($#)) || set -- /bin/bash
	exec nsenter --target "$p" --mount --uts --net --pid --wd=/ -- "$@"
}

cmd_ssh() {
	local h=${1:-}
	[[ -n $h ]] || die "usage: lab.sh ssh hK [CMD...]"
	shift
	# shellcheck disable=SC2046
	exec ssh $(ssh_opts) "root@$(haddr "$h")" "$@"
}

cmd_down() {
	check_names
	local h ns
	for h in $(known_hosts_list); do
		ns=$(hns "$h")
		kill_host "$h"
		ip link del "$(hveth "$h")" 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
		# empty container cgroups left behind by the killed engine
		local c
		for c in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/unified/"$ns"; do
			[[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
	done
	if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then ip link del "$LAB_BRIDGE"; fi
	if command -v iptables >/dev/null; then
		while iptables -w -D FORWARD -i "$LAB_BRIDGE" -o "$LAB_BRIDGE" -j ACCEPT 2>/dev/null; do :; done
	fi
	# Nothing of the lab should be mounted in the root namespace; be safe anyway.
	local m
	while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v d="$LAB_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
	if [[ $LAB_KEEP == 1 ]]; then
		log "down; kept $LAB_DIR"
	elif [[ -e $MARKER ]]; then
		rm -rf --one-file-system "$LAB_DIR"
		rm -f "$LOCK"
		log "down; removed $LAB_DIR"
	else
		log "down"
	fi
}

LOCK=$LAB_DIR.lock # beside the lab's directory; `down` removes both
lock() { # serialise verbs that change the lab (tests may call lab.sh concurrently)
	mkdir -p "$(dirname "$LOCK")"
	exec 9>"$LOCK"
	flock -w 600 9 || die "another lab.sh holds $LOCK"
}

main() {
	[[ $(id -u) == 0 ]] || die "run as root"
	local verb=${1:-}
	(($#)) && shift
	case $verb in up | add | down | stop | start | cut | heal) lock ;; esac
	case $verb in
	up) cmd_up "$@" ;;
	add) cmd_add "$@" ;;
	down) cmd_down "$@" ;;
	stop) cmd_stop "$@" ;;
	start) cmd_start "$@" ;;
	cut) cmd_cut "$@" ;;
	heal) cmd_heal "$@" ;;
	status) cmd_status "$@" ;;
	env) cmd_env "$@" ;;
	load) cmd_load "$@" ;;
	exec) cmd_exec "$@" ;;
	ssh) cmd_ssh "$@" ;;
	-h | --help | help) usage 0 ;;
	*) usage 2 ;;
	esac
}

main "$@"
