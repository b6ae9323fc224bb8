#!/usr/bin/env bash
# Starts PostgreSQL, MariaDB and Redis where they are installed but down, and waits until each answers.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name="$1" port="$2"
  for _ in $(seq 1 60); do port_open "$port" && { echo "$name is up on :$port"; return 0; }; sleep 0.5; done
  echo "$name did not come up on :$port within 30 s" >&2; return 1
}

status=0
if ! port_open 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || status=1
fi
if ! port_open 3306; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || status=1
fi
if ! port_open 6379; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
fi
wait_port PostgreSQL 5432 || status=1
wait_port MariaDB 3306 || status=1
wait_port Redis 6379 || status=1
exit $status
