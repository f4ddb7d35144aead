#!/usr/bin/env bash
# Starts the action server and the Rasa server, prints the URLs, stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mkdir -p var
model=$(scripts/train-if-stale models | tail -n 1)

for port in "$ACTION_SERVER_PORT" "$RASA_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port is already in use: stop what runs there, or set RASA_PORT / ACTION_SERVER_PORT." >&2
    exit 1
  fi
done

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping ..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# The servers run in sessions of their own, so Ctrl-C reaches this script only and it stops them in order.
setsid .venv/bin/python -m bot.action_server --port "$ACTION_SERVER_PORT" >var/action-server.log 2>&1 &
pids+=($!)
setsid .venv/bin/rasa run --model "$model" --endpoints endpoints.yml --credentials credentials.yml \
  --interface "$RASA_HOST" --port "$RASA_PORT" --enable-api --auth-token "$RASA_API_TOKEN" \
  >var/rasa.log 2>&1 &
pids+=($!)
# Queued WeChat alerts go out as template messages, or by SMS when the number is not bound.
setsid .venv/bin/python -m bot deliver-wechat >var/wechat-sender.log 2>&1 &
pids+=($!)

echo "Starting (logs in var/rasa.log, var/action-server.log and var/wechat-sender.log) ..."
for _ in $(seq 1 180); do
  if curl -fsS "http://127.0.0.1:$RASA_PORT/webhooks/rest/" >/dev/null 2>&1 \
     && curl -fsS "http://127.0.0.1:$ACTION_SERVER_PORT/health" >/dev/null 2>&1; then
    web="  Web chat demo: http://127.0.0.1:$RASA_PORT/webhooks/web/demo   (the widget, and a demo phone showing the SMS)"
    if [ "$BOT_ENV" = production ]; then
      web="  Web widget:    http://127.0.0.1:$RASA_PORT/webhooks/web/widget.js   (no demo page in production)"
    fi
    console="  Agent console: http://127.0.0.1:$RASA_PORT/webhooks/agent/   (demo agent: agent1 / ${BOT_DEMO_AGENT_PASSWORD:-dev-only-agent-password})"
    if [ "$BOT_ENV" = production ]; then
      console="  Agent console: http://127.0.0.1:$RASA_PORT/webhooks/agent/   (accounts: python -m bot agent-add)"
    fi
    cat <<MSG

The assistant is running.
$web
$console
  REST channel:  http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook   (Authorization: Bearer \$REST_CHANNEL_TOKEN)
  socket.io:     http://127.0.0.1:$RASA_PORT/socket.io
  HTTP API:      http://127.0.0.1:$RASA_PORT/   (?token=\$RASA_API_TOKEN)
  Action server: http://127.0.0.1:$ACTION_SERVER_PORT/webhook (?token=\$ACTION_SERVER_TOKEN)

Try it: open the web chat demo above in a browser, or
  curl -s -H "Authorization: Bearer $REST_CHANNEL_TOKEN" -H 'Content-Type: application/json' \\
    -d '{"sender":"demo-1","message":"查一下我的余额"}' http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook
  .venv/bin/python -m bot outbox 13800138000     # the SMS code the demo phone "received"

Press Ctrl-C to stop.
MSG
    wait -n "${pids[@]}" || true
    echo "A server stopped; see var/rasa.log, var/action-server.log and var/wechat-sender.log." >&2
    exit 1
  fi
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "A server failed to start; see var/rasa.log and var/action-server.log:" >&2
      tail -n 20 var/rasa.log var/action-server.log >&2
      exit 1
    fi
  done
  sleep 1
done
echo "The servers did not become ready in 180 s; see var/rasa.log and var/action-server.log." >&2
exit 1
