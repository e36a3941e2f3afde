#!/usr/bin/env bash
# The HTTP runtime every service shares (h2o 2.2.5 + router + metrics + access log) against nginx
# answering the same fixed body, closed loop with wrk.
source "$(dirname "$0")/lib.sh"

# Our runtime: index-service's /health (a complete request through dispatch, metrics and logging).
P_ECO=$(free_port)
ECO_HTTP_PORT=$P_ECO ECO_BIND_ADDR=127.0.0.1 ECO_LOG_LEVEL=warn ECO_INDEX_DATA_DIR=$TMP/index \
  build/bin/index-service >"$TMP/eco.log" 2>&1 & pids+=($!)
ECO_PID=$!
# Reference: nginx (one worker, like our one event loop) returning the same body.
P_NGX=$(free_port)
mkdir -p "$TMP/ngx"
cat >"$TMP/ngx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $TMP/ngx/nginx.pid; error_log $TMP/ngx/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/ngx; proxy_temp_path $TMP/ngx; fastcgi_temp_path $TMP/ngx;
       uwsgi_temp_path $TMP/ngx; scgi_temp_path $TMP/ngx;
  server { listen 127.0.0.1:$P_NGX; location = /health { default_type application/json; return 200 '{"status":"ok"}'; } } }
CONF
nginx -c "$TMP/ngx/nginx.conf" -p "$TMP/ngx" & pids+=($!)
wait_http "http://127.0.0.1:$P_ECO/health"; wait_http "http://127.0.0.1:$P_NGX/health"

log "HTTP runtime vs nginx: wrk, 4 runs of ${DUR}s"
read -r e1 e1p50 e1p99 < <(run_wrk "http://127.0.0.1:$P_ECO/health" 1)
read -r n1 n1p50 n1p99 < <(run_wrk "http://127.0.0.1:$P_NGX/health" 1)
read -r e64 _ e64p99 < <(run_wrk "http://127.0.0.1:$P_ECO/health" 64)
read -r n64 _ n64p99 < <(run_wrk "http://127.0.0.1:$P_NGX/health" 64)
RSS_KB=$(rss_kb "$ECO_PID")

echo "### HTTP runtime vs nginx (\`make bench\`, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1, ${DUR}s per run)"
echo
echo "| measure | eco-base runtime | nginx 1 worker | ratio eco/nginx |"
echo "|---|---|---|---|"
echo "| requests/s, 1 connection | $e1 | $n1 | $(ratio "$e1" "$n1") |"
echo "| p50 latency, 1 connection (µs) | $e1p50 | $n1p50 | $(ratio "$e1p50" "$n1p50") |"
echo "| p99 latency, 1 connection (µs) | $e1p99 | $n1p99 | $(ratio "$e1p99" "$n1p99") |"
echo "| requests/s, 64 connections | $e64 | $n64 | $(ratio "$e64" "$n64") |"
echo "| p99 latency, 64 connections (µs) | $e64p99 | $n64p99 | $(ratio "$e64p99" "$n64p99") |"
echo
echo "Idle-after-load RSS of the service: $((RSS_KB / 1024)) MiB ($RSS_KB KiB)."
