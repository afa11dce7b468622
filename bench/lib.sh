# shellcheck shell=bash
# Helpers for bench/run: sourced, not run.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SMTPBENCH=("${PYTHON:-python3}" "$BENCH_DIR/smtpbench.py")
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# PIDs of the servers started so far; cleanup stops the ones still running.
STARTED_PIDS=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "bench: $*"; exit 1; }

# json_get FILE KEY: one top-level value of the JSON object in FILE.
json_get() {
	"${PYTHON:-python3}" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# Installs Postfix (smtp-source, smtp-sink) if missing. "No configuration"
# writes no main.cf, so no system Postfix starts. Idempotent.
ensure_postfix_tools() {
	if [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ]; then
		return
	fi
	log "installing postfix (for smtp-source and smtp-sink)"
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postfix >/dev/null
	[ -x /usr/sbin/smtp-source ] || die "postfix installed but /usr/sbin/smtp-source is missing"
}

# Raises this shell's fd limit (inherited by the servers and the idle holder)
# to $1 if it can, and sets FD_LIMIT to the limit in force. Call it directly,
# not in $(...): a subshell's ulimit dies with the subshell.
raise_fd_limit() {
	local want=$1
	if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
		ulimit -Hn "$want" 2>/dev/null || true # root only
	fi
	local hard
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
		want=$hard
	fi
	ulimit -Sn "$want"
	# shellcheck disable=SC2034 # read by bench/run
	FD_LIMIT=$(ulimit -n)
}

# start_server NAME PORT OUTFILE -- ARGV...: starts a server, waits for its
# 220 on a connect loop, writes {pid, start_ms, rss_kb} to OUTFILE and
# records the PID for cleanup.
start_server() {
	local name=$1 port=$2 out=$3
	shift 4
	local pidfile="$out.pid"
	if ! timeout 30 "${SMTPBENCH[@]}" launch --port "$port" --pidfile "$pidfile" \
		--log "$out.log" --timeout 15 -- "$@" >"$out"; then
		[ -s "$pidfile" ] && STARTED_PIDS+=("$(cat "$pidfile")")
		die "$name did not start (see $out.log)"
	fi
	STARTED_PIDS+=("$(json_get "$out" pid)")
}

# alive PID: running (a zombie waiting for its reaper counts as gone).
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# stop_server PID: SIGTERM, then SIGKILL after 10 s. The servers are not
# this shell's children (the launcher exits), so poll rather than wait.
stop_server() {
	local pid=$1 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || return 0
		sleep 0.05
	done
	log "pid $pid ignored SIGTERM for 10 s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

stop_all_servers() {
	local pid
	for pid in "${STARTED_PIDS[@]}"; do
		stop_server "$pid"
	done
	STARTED_PIDS=()
}

# wait_for_quiet_machine LABEL: prints the load before a scenario. Our own
# previous scenario keeps the 1-minute load average above 1 for a minute, so
# what decides is the machine's CPU use over 1 s while our servers are idle:
# above $QUIET_BUSY_PCT % (of 200 % on 2 cores) another process is running,
# and we wait for it, up to $QUIET_WAIT_S seconds, then go on and note it.
wait_for_quiet_machine() {
	local label=$1 waited=0 sample busy load1
	sample="$WORK/machine.json"
	while :; do
		"${SMTPBENCH[@]}" machine >"$sample"
		busy=$(json_get "$sample" busy_pct)
		load1=$(json_get "$sample" load1)
		if [ "${busy%.*}" -le "$QUIET_BUSY_PCT" ] || [ "$waited" -ge "$QUIET_WAIT_S" ]; then
			break
		fi
		log "  machine busy ${busy}% (load1 $load1) before '$label': another process is running; waiting"
		sleep 5
		waited=$((waited + 6))
	done
	local note=""
	[ "${busy%.*}" -gt "$QUIET_BUSY_PCT" ] && note=" — still busy after ${waited} s: figures may be distorted"
	log "  load before '$label': load1 $load1, machine busy ${busy}% over 1 s${note}"
	printf '{"type": "load", "scenario": "%s", "load1": %s, "busy_pct": %s, "waited_s": %s}\n' \
		"$label" "$load1" "$busy" "$waited" >>"$RESULTS"
}
