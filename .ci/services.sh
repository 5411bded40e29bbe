#!/usr/bin/env bash
# Start PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) when they are not
# running, and fail loudly when they cannot be started.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() {  # wait_for NAME CHECK
    for _ in $(seq 1 60); do
        if "$2"; then return 0; fi
        sleep 0.5
    done
    echo "services: $1 did not come up on 127.0.0.1" >&2
    return 1
}

if ! pg_up; then
    echo "services: starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
    else
        echo "services: PostgreSQL is not running and pg_ctlcluster is missing;" \
             "install postgresql or point CALLCASE_TEST_DATABASE_URL at a server" >&2
        exit 1
    fi
    wait_for PostgreSQL pg_up
fi

if ! redis_up; then
    echo "services: starting Redis"
    if ! command -v redis-server >/dev/null; then
        echo "services: Redis is not running and redis-server is missing;" \
             "install redis-server" >&2
        exit 1
    fi
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis_up
fi
echo "services: PostgreSQL and Redis are up"
