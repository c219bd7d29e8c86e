#!/usr/bin/env bash
# Start Debian's rabbitmq-server in the background when nothing answers on 127.0.0.1:5672 (CI machines and
# containers have no systemd as PID 1), then wait until `rabbitmqctl await_startup` passes. Idempotent: when
# the broker is already up it only waits for it to finish booting. A broker started here listens on
# loopback only (AMQP, Erlang distribution and epmd).
#
# Environment: RABBITMQ_START_TIMEOUT (seconds, default 90), RABBITMQ_START_LOG (default
# /var/log/rabbitmq/ensure-rabbitmq.log).
set -euo pipefail

timeout_s=${RABBITMQ_START_TIMEOUT:-90}
log=${RABBITMQ_START_LOG:-/var/log/rabbitmq/ensure-rabbitmq.log}
pid_file=/run/ensure-rabbitmq.pid

answering() {
  (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null
}

for tool in rabbitmq-server rabbitmqctl; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "ensure-rabbitmq: $tool is missing (apt-get install rabbitmq-server)" >&2
    exit 1
  fi
done
export PATH="$PATH:/usr/sbin"

if ! answering; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl start rabbitmq-server
  else
    echo "ensure-rabbitmq: starting rabbitmq-server in the background (log: $log)" >&2
    mkdir -p "$(dirname "$log")"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      ERL_EPMD_ADDRESS=127.0.0.1 \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      setsid nohup rabbitmq-server >"$log" 2>&1 </dev/null &
    echo $! >"$pid_file"
  fi
fi

deadline=$((SECONDS + timeout_s))
until answering && rabbitmqctl -q await_startup --timeout 10 >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "ensure-rabbitmq: RabbitMQ did not start within ${timeout_s}s; see $log" >&2
    exit 1
  fi
  sleep 1
done
