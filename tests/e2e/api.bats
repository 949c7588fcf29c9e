#!/usr/bin/env bats
# kcsd's HTTP API: one error shape, bad input, limits, TLS, the loopback rule.

load helper

setup() {
	setup_kcsd "max_body = 4096"
}

json_post() { # PATH BODY
	api POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}

@test "health and the versioned API; unknown routes answer 404 JSON" {
	run api GET /v1/health
	[ "$(tail -n 1 <<< "$output")" = 200 ]
	[ "$(head -n 1 <<< "$output" | jq -r .status)" = ok ]
	run api GET /v2/health
	[ "$(tail -n 1 <<< "$output")" = 404 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.code)" = no_route ]
	run api DELETE /v1/login
	[ "$(tail -n 1 <<< "$output")" = 405 ]
	[ "$(head -n 1 <<< "$output" | jq -r '.error | keys | join(",")')" = code,message ]
}

@test "malformed JSON, a missing field, a wrong type: 400 naming the field, nothing changed" {
	before=$(admin audit verify | jq .entries)
	run json_post /v1/login '{"email": "a@example.com", '
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.code)" = malformed_json ]
	run json_post /v1/login '[1,2,3]'
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	# a key given twice: which one is meant differs between parsers
	run json_post /v1/login '{"email":"a@example.com","password":"x","email":"b@example.com","accept_disclaimer":true}'
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.field)" = email ]
	[[ "$(head -n 1 <<< "$output" | jq -r .error.message)" == *"appears twice"* ]]
	run json_post /v1/login '{"email":"a@example.com","accept_disclaimer":true}'
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.field)" = password ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.message)" = "is required" ]
	run json_post /v1/login '{"email":42,"password":"x","accept_disclaimer":true}'
	[ "$(head -n 1 <<< "$output" | jq -r .error.field)" = email ]
	run json_post /v1/login '{"email":"a@example.com","password":"x","accept_disclaimer":true,"admin":true}'
	[ "$(head -n 1 <<< "$output" | jq -r .error.field)" = admin ]
	run api POST /v1/login -H 'Content-Type: text/plain' --data-binary '{}'
	[ "$(tail -n 1 <<< "$output")" = 415 ]
	[ "$(admin audit verify | jq .entries)" -eq "$before" ]
	[ "$(sql 'SELECT count(*) FROM login_failures')" -eq 0 ]
}

@test "an oversized body is refused with 413" {
	big=$(head -c 5000 /dev/zero | tr '\0' a)
	run json_post /v1/login "{\"email\":\"$big\"}"
	[ "$(tail -n 1 <<< "$output")" = 413 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.code)" = too_large ]
	# chunked, without a Content-Length
	run api POST /v1/login -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
		--data-binary "{\"email\":\"$big\"}"
	[ "$(tail -n 1 <<< "$output")" = 413 ]
	# and kcsd still serves
	run api GET /v1/health
	[ "$(tail -n 1 <<< "$output")" = 200 ]
}

@test "tokens: none, unknown, or of the wrong role are refused" {
	run api GET /v1/admin/operators
	[ "$(tail -n 1 <<< "$output")" = 401 ]
	run api GET /v1/admin/operators -H 'Authorization: Bearer 00'
	[ "$(tail -n 1 <<< "$output")" = 401 ]
	run api GET /v1/admin/operators -H "Authorization: Bearer $(cat "$T/admin.token")"
	[ "$(tail -n 1 <<< "$output")" = 200 ]
	run api POST /v1/hotline/locksmiths -H "Authorization: Bearer $(cat "$T/admin.token")" \
		-H 'Content-Type: application/json' -d '{}'
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	run api GET /v1/me -H "Authorization: Bearer $(cat "$T/admin.token")"
	[ "$(tail -n 1 <<< "$output")" = 401 ]
}

@test "the request log has one line per request and never a query string" {
	curl -s "$KCS_URL/verify-email?token=secret-looking-value" > /dev/null
	curl -s "$KCS_URL/v1/health" > /dev/null
	refute grep -q secret-looking-value "$T/kcsd.log"
	[ "$(grep -c ' GET /verify-email 400 ' "$T/kcsd.log")" -eq 1 ]
	[ "$(grep -c ' GET /v1/health 200 ' "$T/kcsd.log")" -eq 1 ]
	# a decoded line break in the path cannot forge a log line
	lines=$(wc -l < "$T/kcsd.log")
	curl -s "$KCS_URL/v1/x%0A2026-01-01T00:00:00Z%20127.0.0.1%20POST%20/v1/login%20200" > /dev/null
	[ "$(wc -l < "$T/kcsd.log")" -eq $((lines + 1)) ]
	refute grep -q '^2026-01-01T00:00:00Z' "$T/kcsd.log"
}

@test "a non-loopback address needs TLS" {
	stop_kcsd
	run "$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 0.0.0.0:0
	[ "$status" -eq 2 ]
	[[ "$output" == *"not a loopback address"*"needs TLS"* ]]
	run "$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 127.0.0.1:0 --tls-cert /nonexistent
	[ "$status" -eq 2 ]
}

@test "kcsd stops cleanly on SIGTERM and SIGINT" {
	kill -TERM "$KCSD_PID"
	wait "$KCSD_PID"
	KCSD_PID=
	grep -q 'shutting down' "$T/kcsd.log"
	start_kcsd
	kill -INT "$KCSD_PID"
	rc=0
	wait "$KCSD_PID" || rc=$?
	KCSD_PID=
	[ "$rc" -eq 0 ]
}

@test "bad configuration: an unknown setting or a bad number is named" {
	stop_kcsd
	echo "sesion_idle = 5" > "$T/bad.conf"
	run "$B/kcsd" -c "$T/bad.conf" "${STORE[@]}"
	[ "$status" -eq 3 ]
	[[ "$output" == *"sesion_idle"*"unknown setting"* ]]
	echo "session_idle = soon" > "$T/bad.conf"
	run "$B/kcsd" -c "$T/bad.conf" "${STORE[@]}"
	[ "$status" -eq 3 ]
	[[ "$output" == *"session_idle"* ]]
	run "$B/kcsd" --db "$T/missing.db"
	[ "$status" -eq 3 ]
	[[ "$output" == *"kcsd init"* ]]
	# a store from a newer kcs is refused, untouched
	version="PRAGMA user_version"
	[ "$ENGINE" = sqlite ] || version="SELECT version FROM kcs_schema"
	if [ "$ENGINE" = pg ]; then sql "UPDATE kcs_schema SET version = 99"; else sql "PRAGMA user_version = 99"; fi
	run "$B/kcsd" "${STORE[@]}" --listen 127.0.0.1:0
	[ "$status" -eq 3 ]
	[[ "$output" == *"schema version 99"* ]]
	[ "$(sql "$version")" -eq 99 ]
}

make_cert() { # CN -> $T/CN.pem, $T/CN.key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$T/$1.key" -out "$T/$1.pem" 2> /dev/null
}

@test "the whole flow over HTTPS with a certificate the test makes" {
	stop_kcsd
	make_cert kcs-test
	start_kcsd --tls-cert "$T/kcs-test.pem" --tls-key "$T/kcs-test.key"
	[[ "$KCS_URL" == https://* ]]
	export KCS_CA_FILE=$T/kcs-test.pem
	add_operator
	active_locksmith g36d27a9 j@example.com
	run klogin status
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = Active ]
}

@test "a client refuses a certificate it does not trust" {
	stop_kcsd
	make_cert kcs-test
	make_cert other-ca
	start_kcsd --tls-cert "$T/kcs-test.pem" --tls-key "$T/kcs-test.key"
	run admin operator list
	[ "$status" -eq 5 ]
	[[ "$output" == *"certificate is not trusted"* ]]
	KCS_CA_FILE=$T/other-ca.pem run admin operator list
	[ "$status" -eq 5 ]
	KCS_CA_FILE=$T/kcs-test.pem run admin operator list
	[ "$status" -eq 0 ]
}

@test "HTTPS speaks TLS 1.2 and 1.3, not older versions" {
	stop_kcsd
	make_cert kcs-test
	start_kcsd --tls-cert "$T/kcs-test.pem" --tls-key "$T/kcs-test.key"
	run curl -sS --cacert "$T/kcs-test.pem" --tlsv1.3 "$KCS_URL/v1/health"
	[ "$status" -eq 0 ]
	run curl -sS --cacert "$T/kcs-test.pem" --tlsv1.2 --tls-max 1.2 "$KCS_URL/v1/health"
	[ "$status" -eq 0 ]
	for v in 1.0 1.1; do
		run curl -sS --cacert "$T/kcs-test.pem" --tlsv$v --tls-max $v --ciphers 'DEFAULT@SECLEVEL=0' \
			"$KCS_URL/v1/health"
		[ "$status" -ne 0 ]
	done
}

@test "TLS on a non-loopback address is allowed" {
	stop_kcsd
	make_cert kcs-test
	rm -f "$T/url"
	"$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 0.0.0.0:0 --url-file "$T/url" \
		--tls-cert "$T/kcs-test.pem" --tls-key "$T/kcs-test.key" 2>> "$T/kcsd.log" 3>&- &
	KCSD_PID=$!
	for _ in $(seq 100); do [ -s "$T/url" ] && break; sleep 0.05; done
	port=$(sed 's/.*://' "$T/url")
	KCS_CA_FILE=$T/kcs-test.pem KCS_URL=https://127.0.0.1:$port run admin operator list
	[ "$status" -eq 0 ]
}

port() { sed 's/.*://' "$T/url"; }

@test "an idle connection is closed after connection_timeout" {
	reconfigure "connection_timeout = 1"
	exec 5<>"/dev/tcp/127.0.0.1/$(port)"
	# nothing sent: kcsd hangs up by itself
	run timeout 5 cat <&5
	exec 5>&-
	[ "$status" -eq 0 ]
}

@test "connections from one address are limited" {
	reconfigure "per_ip_connection_limit = 2"
	exec 5<>"/dev/tcp/127.0.0.1/$(port)" 6<>"/dev/tcp/127.0.0.1/$(port)"
	sleep 0.2
	run curl -sS --max-time 3 "$KCS_URL/v1/health"
	[ "$status" -ne 0 ]
	exec 5>&- 6>&-
	sleep 0.2
	run curl -sS --max-time 3 "$KCS_URL/v1/health"
	[ "$status" -eq 0 ]
}

@test "the method is logged sanitised like the path" {
	curl -s -X $'GE\x1b[31mT' "$KCS_URL/v1/health" > /dev/null
	refute grep -q $'\x1b' "$T/kcsd.log"
	grep -qF 'GE?[31mT /v1/health 405' "$T/kcsd.log"
}

@test "the verification page is sent with its Content-Security-Policy" {
	add_operator
	add_sdrm g36d27a9
	register g36d27a9 j@example.com > /dev/null
	run curl -sS -i "$(verify_link j@example.com)"
	[[ "$output" == *"Content-Security-Policy: default-src 'none'"* ]]
	[[ "$output" == *"E-mail address verified"* ]]
}

@test "a write beyond a file-size limit fails the request, and kcsd serves on" {
	# the SQLite store is a file kcsd writes; PostgreSQL's are the server's
	[ "$ENGINE" = sqlite ] || skip "the store is not a file of kcsd's on PostgreSQL"
	stop_kcsd
	# the store's journal may grow by a few hundred kilobytes at most
	size=$(( $(stat -c %s "$T/kcs.db") + 200000 ))
	rm -f "$T/url"
	prlimit --fsize=$size "$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 127.0.0.1:0 \
		--url-file "$T/url" 2>> "$T/kcsd.log" 3>&- &
	KCSD_PID=$!
	for _ in $(seq 100); do [ -s "$T/url" ] && break; sleep 0.05; done
	KCS_URL=$(cat "$T/url")
	failed=0
	for i in $(seq 80); do
		admin operator add "op$i" > /dev/null 2>&1 || { failed=$i; break; }
	done
	[ "$failed" -gt 0 ]
	kill -0 "$KCSD_PID"
	run api GET /v1/health
	[ "$(tail -n 1 <<< "$output")" = 200 ]
	grep -q 'POST /v1/admin/operators 500' "$T/kcsd.log"
}
