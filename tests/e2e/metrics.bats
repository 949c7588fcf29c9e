#!/usr/bin/env bats
# Monitoring: GET /metrics in the Prometheus text format, read by an
# independent parser (python3-prometheus-client), counting a known sequence
# of requests exactly; systemd's notify protocol and watchdog.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd
	grant cron maintenance > "$T/maint.token"
}

scrape() { curl -sS -D "$T/headers" -H "Authorization: Bearer $(cat "$T/maint.token")" "$KCS_URL/metrics"; }
# the value of one sample: parse NAME LABELS-AS-JSON
value() {
	/usr/bin/python3 - "$1" "$2" "$T/metrics" <<- 'EOF'
	import json, sys
	from prometheus_client.parser import text_string_to_metric_families
	name, labels, text = sys.argv[1], json.loads(sys.argv[2]), open(sys.argv[3]).read()
	found = [s.value for f in text_string_to_metric_families(text) for s in f.samples
	         if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
	print(int(sum(found)) if found else "none")
	EOF
}

@test "/metrics: the Prometheus text format, counting a known sequence of requests exactly" {
	for _ in 1 2 3; do curl -fsS "$KCS_URL/v1/health" > /dev/null; done
	for _ in 1 2; do curl -sS "$KCS_URL/v1/nowhere" > /dev/null; done
	admin operator list > /dev/null
	curl -sS "$KCS_URL/v1/admin/operators" > /dev/null
	scrape > "$T/metrics"
	grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers"
	[ "$(value kcs_requests_total '{"route": "GET /v1/health", "code": "2xx"}')" = 3 ]
	[ "$(value kcs_requests_total '{"route": "none", "code": "4xx"}')" = 2 ]
	[ "$(value kcs_requests_total '{"route": "GET /v1/admin/operators", "code": "2xx"}')" = 1 ]
	[ "$(value kcs_requests_total '{"route": "GET /v1/admin/operators", "code": "4xx"}')" = 1 ]
	# every request answered is in the histogram once
	[ "$(value kcs_requests_total '{}')" = "$(value kcs_request_duration_seconds_count '{}')" ]
	[ "$(value kcs_request_duration_seconds_bucket '{"le": "+Inf"}')" = "$(value kcs_request_duration_seconds_count '{}')" ]
	[ "$(value kcs_audit_entries '{}')" = "$(sql 'SELECT count(*) FROM audit')" ]
	[ "$(value kcs_audit_tree_size '{}')" = 0 ]
	[ "$(value kcs_store_errors_total '{}')" = 0 ]
	# the scrape itself is counted by the next one
	scrape > "$T/metrics"
	[ "$(value kcs_requests_total '{"route": "GET /metrics", "code": "2xx"}')" = 1 ]
	admin audit checkpoint > /dev/null
	scrape > "$T/metrics"
	[ "$(value kcs_audit_tree_size '{}')" = "$(sql 'SELECT count(*) FROM audit')" ]
	# the checkpoint was written: a write transaction held the writer's turn
	[ "$(value kcs_store_write_transactions_total '{}')" -ge 1 ]
	awk '$1 == "kcs_store_writer_busy_seconds_total" { b = $2 } END { exit !(b > 0 && b < 60) }' "$T/metrics"
	if [ "$ENGINE" = sqlite ]; then
		[ "$(value kcs_last_backup_timestamp_seconds '{}')" = 0 ]
		"$B/kcs-admin" backup "$T/b.kcsb" --db "$DB" --key "$T/kcs.key" > /dev/null
		scrape > "$T/metrics"
		[ "$(value kcs_last_backup_timestamp_seconds '{}')" -ge "$(($(date +%s) - 60))" ]
	fi
}

@test "/metrics: the maintenance token or an administrator's; not the hotline's, not without one" {
	add_operator
	run curl -sS -o /dev/null -w '%{http_code}' "$KCS_URL/metrics"
	[ "$output" = 401 ]
	run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/operator.token")" "$KCS_URL/metrics"
	[ "$output" = 403 ]
	run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/admin.token")" "$KCS_URL/metrics"
	[ "$output" = 200 ]
}

@test "systemd: READY=1 once serving, the watchdog fed while the store answers, STOPPING=1 at the end" {
	stop_kcsd
	/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(0.2)
end = time.time() + 20
with open(sys.argv[2], "a") as out:
    while time.time() < end:
        try:
            out.write(s.recv(4096).decode().replace("\n", " ") + "\n"); out.flush()
        except socket.timeout:
            pass' "$T/notify" "$T/notes" &
	listener=$!
	for _ in $(seq 100); do [ -S "$T/notify" ] && break; sleep 0.05; done
	export NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=200000
	start_kcsd
	unset NOTIFY_SOCKET WATCHDOG_USEC
	for _ in $(seq 100); do [ "$(grep -c WATCHDOG=1 "$T/notes" 2> /dev/null)" -ge 3 ] && break; sleep 0.05; done
	grep -q "^READY=1 STATUS=serving $KCS_URL" "$T/notes"
	[ "$(grep -c WATCHDOG=1 "$T/notes")" -ge 3 ]
	stop_kcsd
	for _ in $(seq 100); do grep -q STOPPING=1 "$T/notes" && break; sleep 0.05; done
	grep -q STOPPING=1 "$T/notes"
	kill "$listener"
	wait "$listener" 2> /dev/null || true
}
