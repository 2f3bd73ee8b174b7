#!/usr/bin/env bash
# Unsolicited-NOTIFY throughput of sipd next to Kamailio 5.6 (children=1, stateless 200 to every
# NOTIFY) under the same SIPp flood in the same run, and sipd's memory per subscription with
# 10,000 numbers subscribed to a SIPp voice-mail server. Loopback only; every process started
# here is stopped by its pid.
#
#   sipd/benches/notify_flood.sh [CALLS] [RATE] [LIMIT]
#
# CALLS NOTIFYs per peer (default 100000), offered at RATE per second (default 50000) with at
# most LIMIT outstanding (default 200): the peer that answers faster completes sooner.
# A run counts only with 0 failed calls. Prints the rates, the ratio sipd/kamailio (goal >= 1.0)
# and the memory figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${1:-100000}
rate=${2:-50000}
limit=${3:-200}
subs=${SUBS:-10000}

for bin in sipp kamailio; do
    command -v "$bin" >/dev/null || { echo "notify_flood: $bin is not installed" >&2; exit 1; }
done
cargo build --release -p sipd >&2
sipd_bin=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/sipd

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sipd_config() { # dir port extra
    cat >"$1/dahdi-mwi.toml" <<EOF
[sip]
listen = ["udp:127.0.0.1:$2"]
[dahdi]
backend = "sim"
sim_dir = "$1/sim"
[state]
dir = "$1/state"
runtime_dir = "$1/run"
[table]
path = "$1/table"
capacity = 65536
[log]
level = "warn"
$3
EOF
    mkdir -p "$1/state"
}

# --- sipd, unsolicited mode ---------------------------------------------------------------
sport=$(free_port)
mkdir -p "$work/sipd"
sipd_config "$work/sipd" "$sport" '[mwi_server]
server = "ipv4:127.0.0.1"
unsolicited = true
allow = ["127.0.0.1/32"]
options_interval = 0
[[fxs]]
channel = 1
number = "8000"'
"$sipd_bin" run --allow-root --config "$work/sipd/dahdi-mwi.toml" 2>"$work/sipd.log" &
pids+=($!)

# --- Kamailio, one UDP worker, stateless 200 ------------------------------------------------
kport=$(free_port)
cat >"$work/kamailio.cfg" <<EOF
#!KAMAILIO
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:$kport
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
request_route {
    sl_send_reply("200", "OK");
}
EOF
kamailio -f "$work/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$work" -w "$work" >"$work/kamailio.log" 2>&1 &
pids+=($!)
sleep 2

sed 's/EXPECT/200/' tests/scenarios/unsolicited.xml >"$work/notify.xml"

flood() { # name port -> calls per second (0 failures) on stdout
    local name=$1 port=$2 start end
    start=$(date +%s.%N)
    if ! sipp "127.0.0.1:$port" -sf "$work/notify.xml" -s 8000 -i 127.0.0.1 -p "$(free_port)" \
        -r "$rate" -l "$limit" -m "$calls" -timeout 300s -timeout_error -nostdin \
        -trace_err -error_file "$work/$name.err" >"$work/$name.sipp" 2>&1; then
        echo "notify_flood: $name had failed calls:" >&2
        tail -n 30 "$work/$name.sipp" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    python3 -c "print(f'{$calls/($end-$start):.0f}')"
}

# Warm both up, then measure in turn.
flood sipd-warm "$sport" >/dev/null
flood kamailio-warm "$kport" >/dev/null
sipd_rate=$(flood sipd "$sport")
kam_rate=$(flood kamailio "$kport")
ratio=$(python3 -c "print(f'{$sipd_rate/$kam_rate:.2f}')")
echo "unsolicited NOTIFY, $calls calls, SIPp -r $rate -l $limit, 0 failures:"
echo "  sipd      $sipd_rate NOTIFY/s"
echo "  kamailio  $kam_rate NOTIFY/s (children=1, stateless 200)"
echo "  ratio     $ratio (sipd/kamailio)"

# --- memory per subscription -----------------------------------------------------------------
vport=$(free_port)
cat >"$work/vm200.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="accept SUBSCRIBE">
  <recv request="SUBSCRIBE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=vm[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:vm@[local_ip]:[local_port]>
      Expires: 3600
      Content-Length: 0

    ]]>
  </send>
</scenario>
EOF
sipp -sf "$work/vm200.xml" -i 127.0.0.1 -p "$vport" -nostdin >/dev/null 2>&1 &
pids+=($!)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

measure() { # dir numbers -> RSS kB once every subscription is pending/active
    local dir=$1 n=$2 fxs="" i
    for ((i = 0; i < n; i++)); do
        fxs+="[[fxs]]
channel = $((i + 1))
number = \"$((100000 + i))\"
"
    done
    mkdir -p "$dir"
    sipd_config "$dir" "$(free_port)" "[mwi_server]
server = \"ipv4:127.0.0.1\"
port = $vport
expires = 3600
options_interval = 0
$fxs"
    "$sipd_bin" run --allow-root --config "$dir/dahdi-mwi.toml" 2>"$dir.log" &
    local pid=$!
    pids+=("$pid")
    local deadline=$((SECONDS + 60 + n / 50))
    while ((SECONDS < deadline)); do
        local left
        left=$("$sipd_bin" status --json --config "$dir/dahdi-mwi.toml" 2>/dev/null |
            python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(1 for n in s["numbers"] if n["subscription"] not in ("pending","active")))' 2>/dev/null || echo x)
        [[ $left == 0 ]] && break
        sleep 2
    done
    [[ ${left:-x} == 0 ]] || { echo "notify_flood: $n subscriptions not all up" >&2; exit 1; }
    rss_kb "$pid"
    kill "$pid"
}

base=$(measure "$work/m0" 1)
full=$(measure "$work/m$subs" "$subs")
per=$(python3 -c "print(f'{($full-$base)*1024/($subs-1):.0f}')")
echo "memory: RSS ${base} kB with 1 subscription, ${full} kB with $subs: $per bytes per subscription"
