#!/usr/bin/env bash
# make run-prod: the production topology on this machine (docs/deployment.md).
#   PostgreSQL (billing store + Rasa's tracker store), Redis (Rasa's lock store, socket.io across
#   processes), RabbitMQ (Rasa's event broker → metrics consumer), RASA_REPLICAS Rasa processes,
#   the action server with ACTION_SERVER_WORKERS workers, nginx in front on PROD_PORT.
# Checks each service, starts the ones it can with this machine's commands, says which it could not
# and what that costs. Ctrl-C stops everything this script started (services it started keep running).
#
#   PROD_DEMO=1            try it here: development secrets, the demo accounts (seeded if the store is
#                          empty) and the demo page. Without it BOT_ENV=production and real secrets
#                          must come from the environment.
#   PROD_INSTALL_NGINX=1   install Debian's nginx with apt-get when it is missing.
#   RASA_MODEL=path        serve this model instead of training one when data/ changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '%s\n' "$*"; }
warn() { printf '  ! %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
is_local() { case "$1" in 127.0.0.1 | localhost | ::1) return 0 ;; *) return 1 ;; esac; }

# write_nginx_conf DIR HOST PORT RASA_PORT...: nginx in front of the Rasa processes, from
# deploy/nginx.conf.template (bot/ops/topology.py; docs/deployment.md).
write_nginx_conf() { "$root/.venv/bin/python" -m bot.ops nginx-config "$@"; }

# scripts/run-prod.sh nginx-config DIR HOST PORT RASA_PORT...: only writes the nginx configuration (tests).
if [ "${1:-}" = nginx-config ]; then
  shift
  write_nginx_conf "$@"
  exit 0
fi

# --- mode and secrets (checked before env.sh fills in development defaults) -------------------------
if [ "${PROD_DEMO:-0}" = 1 ]; then
  export BOT_ENV=development
  mode="DEMO (PROD_DEMO=1): development secrets and demo accounts - the topology of production, not its security"
else
  export BOT_ENV=production
  missing=()
  for var in BOT_SECRET_KEY RASA_API_TOKEN REST_CHANNEL_TOKEN ACTION_SERVER_TOKEN; do
    value=${!var:-}
    if [ -z "$value" ] || [[ $value == dev-only* ]]; then missing+=("$var"); fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "run-prod runs with BOT_ENV=production and needs real secrets from the environment."
    say "Not set (or development values): ${missing[*]}"
    say "Also BOT_SMS_GATEWAY=http with BOT_SMS_GATEWAY_URL (docs/deployment.md lists every variable)."
    say "To try the topology on this machine with development secrets and demo data: PROD_DEMO=1 make run-prod"
    exit 1
  fi
  mode="PRODUCTION (BOT_ENV=production): secrets from the environment, no demo data"
fi
user_db_url=${BOT_DATABASE_URL:-}
source scripts/env.sh

run=${RUN_PROD_DIR:-$root/var/run-prod}
mkdir -p "$run"
replicas=${RASA_REPLICAS:-2}
base_port=${RASA_BASE_PORT:-5006}
front_host=${PROD_HOST:-127.0.0.1}
front_port=${PROD_PORT:-8080}
workers=${ACTION_SERVER_WORKERS:-2}
pg_host=$RASA_TRACKER_DB_HOST
pg_port=$RASA_TRACKER_DB_PORT
billing_db=${PROD_BILLING_DB:-billing}
if ! [[ $replicas =~ ^[1-9][0-9]?$ ]] || ! [[ $workers =~ ^[1-9][0-9]?$ ]]; then
  say "RASA_REPLICAS and ACTION_SERVER_WORKERS must be whole numbers from 1 to 99."
  exit 1
fi

if ! err=$(.venv/bin/python -c "from bot.settings import get_settings; get_settings()" 2>&1); then
  say "The settings are refused: ${err##*SettingsError: }"
  exit 1
fi

say "make run-prod - $mode"
say ""
say "Services:"
declare -A up=()
psql_admin() { PGPASSWORD=$RASA_TRACKER_DB_PASSWORD PGCONNECT_TIMEOUT=5 psql -h "$pg_host" -p "$pg_port" -U "$RASA_TRACKER_DB_USER" -d postgres -tAq "$@"; }

# --- PostgreSQL ---------------------------------------------------------------------------------
pg_ready() { PGCONNECT_TIMEOUT=3 pg_isready -q -h "$pg_host" -p "$pg_port" 2>/dev/null; }
if ! command -v psql >/dev/null; then
  warn "PostgreSQL: no psql client here (apt-get install postgresql-client)."
elif pg_ready; then
  up[postgres]=1
elif is_local "$pg_host" && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  say "  PostgreSQL at $pg_host:$pg_port is down; starting it (pg_ctlcluster ... main start) ..."
  if pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start >"$run/postgres-start.log" 2>&1; then
    for _ in $(seq 1 20); do pg_ready && { up[postgres]=1; break; }; sleep 1; done
  fi
fi
if [ -n "${up[postgres]:-}" ]; then
  for db in "$RASA_TRACKER_DB_NAME" "$billing_db"; do
    if [ "$db" = "$billing_db" ] && [ -n "$user_db_url" ]; then continue; fi  # the operator's own database
    if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
      psql_admin -c "CREATE DATABASE \"$db\"" >/dev/null && say "  PostgreSQL: created database $db"
    fi
  done
  export BOT_DATABASE_URL=${user_db_url:-postgresql+psycopg2://$RASA_TRACKER_DB_USER${RASA_TRACKER_DB_PASSWORD:+:$RASA_TRACKER_DB_PASSWORD}@$pg_host:$pg_port/$billing_db}
  say "  PostgreSQL  up    $pg_host:$pg_port  (billing store, tracker store: database $RASA_TRACKER_DB_NAME)"
else
  if [ "$BOT_ENV" = production ]; then
    say "  PostgreSQL  DOWN  $pg_host:$pg_port, and it could not be started here."
    say "Production needs PostgreSQL for the billing store and the conversations; not starting."
    exit 1
  fi
  export BOT_DATABASE_URL=${user_db_url:-sqlite:///$run/billing.db}
  warn "PostgreSQL is down and could not be started: billing store and conversations fall back to SQLite"
  warn "files in var/run-prod/, and only ONE Rasa process runs (SQLite is not shared by several)."
  replicas=1
fi

# --- Redis --------------------------------------------------------------------------------------
redis_ping() { [ "$(REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
if ! command -v redis-cli >/dev/null; then
  warn "Redis: no redis-cli here (apt-get install redis-tools)."
elif redis_ping; then
  up[redis]=1
elif is_local "$REDIS_HOST" && command -v redis-server >/dev/null; then
  say "  Redis at $REDIS_HOST:$REDIS_PORT is down; starting it (redis-server --daemonize yes ...) ..."
  if redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >"$run/redis-start.log" 2>&1; then
    for _ in $(seq 1 10); do redis_ping && { up[redis]=1; break; }; sleep 0.5; done
  fi
fi
if [ -n "${up[redis]:-}" ]; then
  if [ -z "${SOCKETIO_REDIS_URL:-}" ]; then
    export SOCKETIO_REDIS_URL="redis://${REDIS_PASSWORD:+:$REDIS_PASSWORD@}$REDIS_HOST:$REDIS_PORT/${SOCKETIO_REDIS_DB:-0}"
  fi
  say "  Redis       up    $REDIS_HOST:$REDIS_PORT  (lock store db $RASA_LOCK_REDIS_DB, socket.io manager)"
else
  export SOCKETIO_REDIS_URL=""
  if [ "$replicas" -gt 1 ]; then
    warn "Redis is down and could not be started: no shared lock store, so only ONE Rasa process runs"
    warn "(two processes could append to one conversation at once), and socket.io stays in memory."
  fi
  replicas=1
fi

# --- RabbitMQ -----------------------------------------------------------------------------------
if port_open "$RABBITMQ_HOST" "$RABBITMQ_PORT"; then
  up[rabbitmq]=1
elif is_local "$RABBITMQ_HOST" && command -v rabbitmq-server >/dev/null; then
  say "  RabbitMQ at $RABBITMQ_HOST:$RABBITMQ_PORT is down; starting it (rabbitmq-server -detached) ..."
  if rabbitmq-server -detached >"$run/rabbitmq-start.log" 2>&1; then
    for _ in $(seq 1 60); do port_open "$RABBITMQ_HOST" "$RABBITMQ_PORT" && { up[rabbitmq]=1; break; }; sleep 1; done
  fi
fi
if [ -n "${up[rabbitmq]:-}" ]; then
  say "  RabbitMQ    up    $RABBITMQ_HOST:$RABBITMQ_PORT  (event broker, queue $RASA_EVENTS_QUEUE)"
else
  warn "RabbitMQ is down and could not be started: Rasa runs WITHOUT an event broker, and there is no"
  warn "metrics consumer (python -m bot metrics shows what was counted before)."
fi

# --- nginx --------------------------------------------------------------------------------------
nginx_bin=$(command -v nginx || true)
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ] && [ "${PROD_INSTALL_NGINX:-0}" = 1 ]; then
  say "  nginx is missing; installing Debian's nginx (apt-get install nginx) ..."
  if [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx \
      >"$run/nginx-install.log" 2>&1; then
    nginx_bin=/usr/sbin/nginx
  else
    warn "installing nginx failed (see var/run-prod/nginx-install.log; it needs root)."
  fi
fi
if [ -n "$nginx_bin" ]; then
  up[nginx]=1
  say "  nginx       found $nginx_bin  (front on $front_host:$front_port)"
else
  warn "nginx is not installed: no single address in front. Install it with 'apt-get install nginx'"
  warn "or run 'PROD_INSTALL_NGINX=1 make run-prod'; meanwhile each Rasa process is reached on its own port."
fi

# --- memory -------------------------------------------------------------------------------------
avail_mb=$(awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
fit=$(( (avail_mb - 1024) / 1500 ))
if [ "$fit" -lt 1 ]; then fit=1; fi
if [ "$replicas" -gt "$fit" ]; then
  warn "only $avail_mb MB of memory available; each Rasa process takes about 1-1.5 GB: $fit process(es) instead of $replicas."
  replicas=$fit
fi

# --- ports --------------------------------------------------------------------------------------
ports=("$ACTION_SERVER_PORT")
for i in $(seq 0 $((replicas - 1))); do ports+=($((base_port + i))); done
[ -n "${up[nginx]:-}" ] && ports+=("$front_port")
for port in "${ports[@]}"; do
  if port_open 127.0.0.1 "$port"; then
    say "Port $port is already in use: stop what runs there, or set RASA_BASE_PORT / PROD_PORT / ACTION_SERVER_PORT."
    exit 1
  fi
done

# --- store, model --------------------------------------------------------------------------------
say ""
say "Migrating the billing store ..."
.venv/bin/python -m bot db upgrade
if [ "$BOT_ENV" != production ]; then .venv/bin/python -m bot seed-demo --if-empty; fi
if [ -n "${RASA_MODEL:-}" ]; then
  [ -f "$RASA_MODEL" ] || { say "RASA_MODEL=$RASA_MODEL is not a file."; exit 1; }
  model=$RASA_MODEL
  say "Model: $model (from RASA_MODEL; not checked against data/, domain.yml and config.yml)"
else
  model=$(scripts/train-if-stale models | tail -n 1)
fi

# --- the endpoints Rasa really uses: endpoints.prod.yml without what is down ----------------------
export ACTION_ENDPOINT="http://127.0.0.1:$ACTION_SERVER_PORT/webhook"
endpoints=$run/endpoints.yml
RUN_PG=${up[postgres]:-} RUN_REDIS=${up[redis]:-} RUN_RABBIT=${up[rabbitmq]:-} RUN_DIR=$run \
  .venv/bin/python - endpoints.prod.yml "$endpoints" <<'PY'
import os, sys
import yaml

source, target = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as f:
    endpoints = yaml.safe_load(f)
if not os.environ.get("RUN_PG"):
    endpoints["tracker_store"] = {"type": "SQL", "dialect": "sqlite", "db": os.environ["RUN_DIR"] + "/rasa-tracker.db"}
if not os.environ.get("RUN_REDIS"):
    endpoints.pop("lock_store", None)
if not os.environ.get("RUN_RABBIT"):
    endpoints.pop("event_broker", None)
with open(target, "w", encoding="utf-8") as f:
    f.write("# Written by scripts/run-prod.sh from endpoints.prod.yml; ${VAR}s are filled in by Rasa.\n")
    yaml.safe_dump(endpoints, f, sort_keys=False, allow_unicode=True)
PY
if [ -n "${up[postgres]:-}" ]; then
  # Create the tracker store's tables once, so the Rasa processes do not race to create them.
  .venv/bin/python - "$endpoints" >"$run/tracker-tables.log" 2>&1 <<'PY' || { say "Preparing the tracker store failed:"; tail -n 5 "$run/tracker-tables.log"; exit 1; }
import sys
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import AvailableEndpoints

TrackerStore.create(AvailableEndpoints.read_endpoints(sys.argv[1]).tracker_store).engine.dispose()
PY
fi

# --- start ----------------------------------------------------------------------------------------
pids=()
names=()
logs=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping ..."
  for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped (PostgreSQL, Redis and RabbitMQ keep running as machine services)."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT
cmds=()
mkdir -p "$run/pids"
rm -f "$run"/pids/*.pid
launch() {  # index: (re)starts process i in a session of its own, so Ctrl-C reaches this script only
  local i=$1
  eval "local -a command=(${cmds[$i]})"
  setsid "${command[@]}" >>"${logs[$i]}" 2>&1 &
  pids[$i]=$!
  echo "${pids[$i]}" >"$run/pids/${pidfiles[$i]}.pid"  # for the benchmarks (bench/faults.py)
}
start() {  # name, log, command...
  local name=$1 log=$2 i=${#names[@]} pidfile
  shift 2
  pidfile=$(printf '%s' "$name" | tr -cs 'A-Za-z0-9' '-' | tr 'A-Z' 'a-z')
  names+=("$name"); logs+=("$log"); pidfiles+=("${pidfile%-}")
  cmds+=("$(printf '%q ' "$@")")
  : >"$log"
  launch "$i"
}
pidfiles=()

start "action server" "$run/action-server.log" .venv/bin/python -m bot.action_server --port "$ACTION_SERVER_PORT" --workers "$workers"
rasa_ports=()
for i in $(seq 0 $((replicas - 1))); do
  port=$((base_port + i))
  rasa_ports+=("$port")
  start "Rasa :$port" "$run/rasa-$port.log" .venv/bin/rasa run --model "$model" --endpoints "$endpoints" \
    --credentials credentials.yml --interface 127.0.0.1 --port "$port" --enable-api --auth-token "$RASA_API_TOKEN"
done
if [ -n "${up[rabbitmq]:-}" ]; then
  start "metrics consumer" "$run/metrics-consumer.log" .venv/bin/python -m bot metrics-consumer
fi
# Queued WeChat alerts: template messages, or SMS when a number is not bound (docs/channels.md).
start "wechat sender" "$run/wechat-sender.log" .venv/bin/python -m bot deliver-wechat

front=""
if [ -n "${up[nginx]:-}" ]; then
  ngx=$run/nginx
  write_nginx_conf "$ngx" "$front_host" "$front_port" "${rasa_ports[@]}"
  if ! "$nginx_bin" -t -q -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" 2>"$run/nginx-test.log"; then
    say "The generated nginx configuration is refused:"; cat "$run/nginx-test.log"; exit 1
  fi
  start "nginx" "$run/nginx.log" "$nginx_bin" -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" -g "daemon off;"
  front="http://$front_host:$front_port"
fi

say ""
say "Starting ${#rasa_ports[@]} Rasa process(es) on ${rasa_ports[*]}, the action server ($workers workers) on $ACTION_SERVER_PORT ..."
say "(logs in var/run-prod/; each Rasa process loads the model, which takes a while on two cores)"
started=$(date +%s)
# Once everything is ready, a process that exits is started again after PROD_RESTART_DELAY seconds,
# as systemd or Kubernetes would; one that exits PROD_RESTART_LIMIT times within ten minutes stops
# the whole topology (exit 1). The other Rasa processes go on serving meanwhile (docs/deployment.md).
restart_delay=${PROD_RESTART_DELAY:-2}
restart_limit=${PROD_RESTART_LIMIT:-5}
declare -A exits=()
supervise() {
  local i now recent
  while true; do
    wait -n "${pids[@]}" || true
    for i in "${!pids[@]}"; do
      kill -0 "${pids[$i]}" 2>/dev/null && continue
      now=$(date +%s)
      recent=""
      for t in ${exits[$i]:-}; do [ $((now - t)) -lt 600 ] && recent+="$t "; done
      exits[$i]="$recent$now"
      if [ "$(wc -w <<<"${exits[$i]}")" -ge "$restart_limit" ]; then
        say "$(date '+%F %T') ${names[$i]} exited $restart_limit times in ten minutes; stopping. See ${logs[$i]#"$root"/}." >&2
        exit 1
      fi
      say "$(date '+%F %T') ${names[$i]} exited; starting it again in ${restart_delay} s (log: ${logs[$i]#"$root"/})."
      sleep "$restart_delay"
      launch "$i"
    done
  done
}
ready() {
  curl -fsS "http://127.0.0.1:$ACTION_SERVER_PORT/health" >/dev/null 2>&1 || return 1
  for port in "${rasa_ports[@]}"; do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 || return 1; done
  if [ -n "$front" ]; then curl -fsS "$front/webhooks/rest/" >/dev/null 2>&1 || return 1; fi
}
for _ in $(seq 1 400); do
  if ready; then
    address=${front:-http://127.0.0.1:${rasa_ports[0]}}
    say ""
    say "The assistant is running ($mode), ready in $(( $(date +%s) - started )) s."
    if [ -z "$front" ]; then say "  (no nginx: the URLs below are the first Rasa process; the others are on ${rasa_ports[*]:1})"; fi
    if [ "$BOT_ENV" = production ]; then
      say "  Web widget:    $address/webhooks/web/widget.js"
      say "  Agent console: $address/webhooks/agent/   (accounts: python -m bot agent-add)"
    else
      say "  Web chat demo: $address/webhooks/web/demo"
      say "  Agent console: $address/webhooks/agent/   (demo agent: agent1 / ${BOT_DEMO_AGENT_PASSWORD:-dev-only-agent-password})"
    fi
    say "  REST channel:  $address/webhooks/rest/webhook   (Authorization: Bearer \$REST_CHANNEL_TOKEN)"
    say "  socket.io:     $address/socket.io"
    say "  HTTP API:      $address/   (?token=\$RASA_API_TOKEN)"
    say "  Rasa processes: ${rasa_ports[*]/#/127.0.0.1:}   action server: 127.0.0.1:$ACTION_SERVER_PORT ($workers workers)"
    say "  Billing store: $(.venv/bin/python -c "import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).render_as_string(hide_password=True))" "$BOT_DATABASE_URL")"
    if [ -n "${up[postgres]:-}" ]; then
      say "  Tracker store: PostgreSQL $pg_host:$pg_port database $RASA_TRACKER_DB_NAME"
    else
      say "  Tracker store: SQLite var/run-prod/rasa-tracker.db"
    fi
    if [ -n "${up[redis]:-}" ]; then
      say "  Lock store:    Redis $REDIS_HOST:$REDIS_PORT db $RASA_LOCK_REDIS_DB; socket.io through Redis across processes"
    else
      say "  Lock store:    in memory; socket.io in memory (one process)"
    fi
    if [ -n "${up[rabbitmq]:-}" ]; then
      say "  Events:        RabbitMQ queue $RASA_EVENTS_QUEUE -> metrics consumer (var/run-prod/metrics-consumer.log)"
      say "  Metrics:       .venv/bin/python -m bot metrics   (with the same BOT_DATABASE_URL)"
    else
      say "  Events:        none (RabbitMQ down: no broker, no metrics)"
    fi
    if [ "$BOT_ENV" != production ]; then
      cat <<MSG

Try it:
  curl -s -H "Authorization: Bearer $REST_CHANNEL_TOKEN" -H 'Content-Type: application/json' \\
    -d '{"sender":"demo-1","message":"查一下我的余额"}' $address/webhooks/rest/webhook
  BOT_DATABASE_URL=$BOT_DATABASE_URL .venv/bin/python -m bot metrics
MSG
    fi
    say ""
    say "Press Ctrl-C to stop."
    supervise
  fi
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      say "${names[$i]} failed to start; the end of ${logs[$i]#"$root"/}:" >&2
      tail -n 20 "${logs[$i]}" >&2 || true
      exit 1
    fi
  done
  sleep 1
done
say "Not ready after 400 s; see the logs in var/run-prod/." >&2
exit 1
