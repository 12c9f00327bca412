#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for recapi's tests and benchmarks and
# prints its URL on stdout:
#
#   url=$(sudo scripts/start-postgres.sh)          # a new cluster in a temp dir
#   RECAPI_TEST_POSTGRES=$url go test ./store/...
#   sudo scripts/start-postgres.sh --stop DIR      # DIR is printed on stderr
#
# The cluster lives in $RECAPI_PG_DIR (default: a new /tmp/recapi-pg.XXXXXX),
# owned by the postgres OS user (the server refuses to run as root), listens on
# 127.0.0.1 only, on a free port (or $RECAPI_PG_PORT), trusts local
# connections, and has an empty database "recapi". Needs root and Debian's
# postgresql package (scripts/install-deps.sh installs it).
set -euo pipefail

die() {
	echo "start-postgres: $*" >&2
	exit 1
}

bindir=""
for d in /usr/lib/postgresql/*/bin; do
	[[ -x $d/initdb ]] && bindir=$d # the glob sorts, the newest version wins
done
[[ -n $bindir ]] || die "initdb not found in /usr/lib/postgresql/*/bin: install PostgreSQL with sudo scripts/install-deps.sh"
[[ $(id -u) -eq 0 ]] || die "must run as root (it starts the server as the postgres user): sudo $0"
id postgres >/dev/null 2>&1 || die "no postgres OS user: reinstall the postgresql package"

if [[ ${1:-} == --stop ]]; then
	[[ -n ${2:-} && -d $2/data ]] || die "usage: $0 --stop DIR (the directory printed at start)"
	runuser -u postgres -- "$bindir/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null
	rm -rf -- "$2"
	exit 0
fi

dir=${RECAPI_PG_DIR:-}
if [[ -z $dir ]]; then
	dir=$(mktemp -d /tmp/recapi-pg.XXXXXX)
fi
mkdir -p "$dir"
chmod 755 "$dir"
chown postgres: "$dir"

port=${RECAPI_PG_PORT:-}
if [[ -z $port ]]; then
	# Ask the kernel for a free loopback port.
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
		die "could not find a free port: set RECAPI_PG_PORT"
fi

log="$dir/initdb.log"
if ! runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	die "initdb failed (log: $log)"
fi
if ! runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null; then
	tail -n 20 "$dir/server.log" >&2
	die "the server did not start (log: $dir/server.log)"
fi
if ! runuser -u postgres -- "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres recapi; then
	runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null || true
	die "createdb failed (log: $dir/server.log)"
fi
echo "start-postgres: PostgreSQL $("$bindir/postgres" -V | awk '{print $3}') on 127.0.0.1:$port, data in $dir; stop with: $0 --stop $dir" >&2
echo "postgres://postgres@127.0.0.1:$port/recapi?sslmode=disable"
