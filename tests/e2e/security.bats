#!/usr/bin/env bats
# Lockout, lifetimes, and what is kept at rest.

load helper

@test "lockout after K failures, at either step, whatever the address; lifted after the cool-down" {
	setup_kcsd "lockout_failures = 3" "lockout_cooldown = 4"
	add_operator
	active_locksmith g36d27a9 j@example.com
	klogin logout
	printf 'wrong password 123' > "$T/bad.pw"
	# two wrong passwords, then a wrong SDRM password: three failures
	run login g36d27a9 j@example.com "$T/bad.pw"
	[ "$status" -eq 4 ]
	run login g36d27a9 j@example.com "$T/bad.pw"
	[ "$status" -eq 4 ]
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/new.pw" \
		--sdrm-id g36d27a9 --sdrm-password-file "$T/bad.pw"
	[ "$status" -eq 4 ]
	# now even the right credentials are refused, from another address too
	run login g36d27a9 j@example.com
	[ "$status" -eq 1 ]
	[[ "$output" == *"too many failed attempts"* ]]
	run curl -sS --interface 127.0.0.2 -X POST -H 'Content-Type: application/json' \
		-d '{"email":"j@example.com","password":"correct horse battery staple","accept_disclaimer":true}' \
		-w '\n%{http_code}' "$KCS_URL/v1/login"
	[ "$(tail -n 1 <<< "$output")" = 429 ]
	run sql "SELECT count(*) FROM audit WHERE event = 'login.locked'"
	[ "$output" -eq 1 ]
	sleep 4.2
	run login g36d27a9 j@example.com
	[ "$status" -eq 0 ]
}

@test "an unknown e-mail is locked out the same way" {
	setup_kcsd "lockout_failures = 2" "lockout_cooldown = 60"
	for i in 1 2 3; do
		run api POST /v1/login -H 'Content-Type: application/json' \
			-d '{"email":"ghost@example.com","password":"whatever 12345","accept_disclaimer":true}'
	done
	[ "$(tail -n 1 <<< "$output")" = 429 ]
}

@test "an idle session expires" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	reconfigure "session_idle = 2"
	login g36d27a9 j@example.com > /dev/null
	run klogin status
	[ "$status" -eq 0 ]
	sleep 2.2
	run klogin status
	[ "$status" -eq 4 ]
	[[ "$output" == *"session has expired"* ]]
}

@test "a session ends at its absolute lifetime even when in use" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	reconfigure "session_max = 6"
	login g36d27a9 j@example.com > /dev/null
	start=$(date +%s)
	run klogin status
	[ "$status" -eq 0 ]
	# in use every half second, and still it ends: at 6 s, counted in whole
	# seconds from the login (a slow login leaves less of it)
	while [ $(($(date +%s) - start)) -lt 12 ]; do
		klogin status > /dev/null 2>&1 || break
		sleep 0.5
	done
	run klogin status
	[ "$status" -eq 4 ]
	[[ "$output" == *"session has expired"* ]]
	[ $(($(date +%s) - start)) -ge 4 ]
}

@test "an expired verification link is refused" {
	setup_kcsd "email_link_lifetime = 1"
	add_operator
	add_sdrm g36d27a9
	register g36d27a9 j@example.com
	sleep 1.2
	run curl -sS -w '\n%{http_code}' "$(verify_link j@example.com)"
	[ "$(tail -n 1 <<< "$output")" = 410 ]
	[ "$(sql 'SELECT email_verified FROM accounts')" -eq 0 ]
}

@test "an expired reset code is refused" {
	setup_kcsd "reset_lifetime = 1"
	add_operator
	active_locksmith g36d27a9 j@example.com
	klogin forgot --email j@example.com
	code=$(reset_code j@example.com)
	sleep 1.2
	printf 'a brand new password' > "$T/reset.pw"
	run klogin reset --email j@example.com --code "$code" --new-password-file "$T/reset.pw"
	[ "$status" -eq 4 ]
}

@test "the session file, the store, the key file and the spool are private" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	[ "$ENGINE" = pg ] || for f in "$T"/kcs.db*; do [ "$(stat -c %a "$f")" = 600 ]; done
	[ "$(stat -c %a "$T/spool")" = 700 ]
	[ "$(stat -c %a "$T/state/kcs/session")" = 600 ]
	[ "$(stat -c %a "$T/state/kcs")" = 700 ]
	[ "$(stat -c %a "$T/kcs.key")" = 600 ]
	for f in "$T"/spool/*; do [ "$(stat -c %a "$f")" = 600 ]; done
}

@test "no plaintext password, token or code in the database file" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	klogin forgot --email j@example.com
	reset=$(reset_code j@example.com)
	address_code=$(address_code "Joern Wellniak")
	stop_kcsd # checkpoint the WAL into the file
	secrets=(
		"$(cat "$T/temp.pw")" "$(cat "$T/new.pw")" "$(cat "$T/sdrm-g36d27a9.pw")"
		"$(cat "$T/admin.token")" "$(cat "$T/operator.token")"
		"$(jq -r .token "$T/state/kcs/session")"
		"$(cat "$T"/spool/*.eml | qp_text | grep -o 'token=[0-9a-f]*' | head -n 1 | cut -d= -f2)"
		"$address_code"
		"$reset"
	)
	for s in "${secrets[@]}"; do
		[ ${#s} -ge 8 ]
		refute grep -aqF -- "$s" <(store_bytes)
		# and the same without dashes, as typed
		refute grep -aqF -- "${s//-/}" <(store_bytes)
	done
}

@test "the audit log is append-only and a tampered entry is detected" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	run admin audit verify
	[ "$status" -eq 0 ]
	n=$(jq -r .entries <<< "$output")
	[ "$n" -ge 8 ]
	run sql "UPDATE audit SET actor = 'someone' WHERE id = 3"
	[ "$status" -ne 0 ]
	[[ "$output" == *"append-only"* ]]
	run sql "DELETE FROM audit WHERE id = 3"
	[ "$status" -ne 0 ]
	# someone with the file drops the guard and edits an entry
	audit_unguard
	sql "UPDATE audit SET subject = 'x' WHERE id = 3"
	run admin audit verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"damaged at entries [3]"* ]]
}

@test "audit verification: every bad entry is named; NULs, types, a cut head and an empty log are caught" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	audit_unguard
	if [ "$ENGINE" = sqlite ]; then
		# bytes hidden after a NUL in a field
		sql "UPDATE audit SET detail = CAST(detail || char(0) || 'x' AS TEXT) WHERE id = 4"
		# times stored as a real number and as text, which read as the same integer
		sql "UPDATE audit SET at = at + 0.25 WHERE id = 6; UPDATE audit SET at = at || 'x' WHERE id = 7"
	else
		# PostgreSQL stores neither a NUL in text nor a time of another type
		sql "UPDATE audit SET detail = detail || ' ' WHERE id = 4; UPDATE audit SET at = at + 1 WHERE id IN (6, 7)"
	fi
	run admin audit verify
	[ "$status" -eq 1 ]
	[ "$(jq -c .bad_entries <<< "${lines[0]}")" = "[4,6,7]" ]
	# the head of the chain cut off
	sql "DELETE FROM audit WHERE id = 1"
	run admin audit verify
	[ "$status" -eq 1 ]
	[ "$(jq -c .bad_entries <<< "${lines[0]}")" = "[2,4,6,7]" ]
	# every entry deleted
	sql "DELETE FROM audit"
	run admin audit verify
	[ "$status" -eq 1 ]
	[ "$(jq -r .intact <<< "${lines[0]}")" = false ]
	[[ "$output" == *"the audit log is empty"* ]]
}

@test "every security event is audited, with no secret in it" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	klogin logout
	run sql "SELECT event FROM audit"
	for e in store.initialised operator.add.requested operator.add.approved sdrm.added account.registered email.verified \
	         login.step1 password.changed login.step2 address.verified logout; do
		[[ "$output" == *"$e"* ]]
	done
	refute grep -qF -- "$(cat "$T/new.pw")" <<< "$(sql 'SELECT * FROM audit')"
}

@test "a password being verified does not hold up other requests" {
	setup_kcsd "argon2_opslimit = 3" "argon2_memlimit_kib = 262144" "threads = 2"
	# an unknown address: verified against a dummy hash of the same (slow) cost
	api POST /v1/login -H 'Content-Type: application/json' \
		-d '{"email":"ghost@example.com","password":"whatever 12345","accept_disclaimer":true}' \
		> "$T/login.out" &
	login=$!
	sleep 0.3
	# a route that needs the store, not the health check (which takes none)
	run api GET /v1/admin/operators -H "Authorization: Bearer $(cat "$T/admin.token")"
	[ "$(tail -n 1 <<< "$output")" = 200 ]
	# answered while the login was still verifying
	kill -0 "$login"
	wait "$login"
	[ "$(tail -n 1 "$T/login.out")" = 401 ]
}

@test "a session token is never sent to another server" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	# a listener that records whatever reaches it
	python3 -c 'import socket,sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); open(sys.argv[1], "wb").write(c.recv(65536))' "$T/caught" > "$T/port" &
	spy=$!
	for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
	KCS_URL=http://127.0.0.1:$(cat "$T/port") run "$B/kcs-login" status < /dev/null
	[ "$status" -eq 4 ]
	[[ "$output" == *"not logged in to http://127.0.0.1:"*"the session is for $KCS_URL"* ]]
	run "$B/kcs-ticket" --url "http://127.0.0.1:$(cat "$T/port")" status < /dev/null
	[ "$status" -eq 4 ]
	kill "$spy" 2>/dev/null || true
	wait "$spy" 2>/dev/null || true
	[ ! -s "$T/caught" ]
	# the session's own server, named explicitly, is fine
	run "$B/kcs-login" --url "$KCS_URL" status < /dev/null
	[ "$status" -eq 0 ]
}

@test "operator and administrator tokens go over plain HTTP only to loopback" {
	setup_kcsd
	python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET6); s.bind(("::", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
s.settimeout(5)
try:
    c, _ = s.accept(); open(sys.argv[1], "wb").write(c.recv(65536))
except socket.timeout:
    pass' "$T/caught" > "$T/port" &
	spy=$!
	for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
	# an IPv4-mapped address is not taken for loopback: the token stays home
	KCS_URL="http://[::ffff:127.0.0.1]:$(cat "$T/port")" run admin operator list
	[ "$status" -eq 2 ]
	[[ "$output" == *"a token is sent over plain HTTP only to a loopback address"* ]]
	kill "$spy" 2>/dev/null || true
	wait "$spy" 2>/dev/null || true
	[ ! -s "$T/caught" ]
	KCS_URL="http://localhost:${KCS_URL##*:}" run admin operator list
	[ "$status" -eq 0 ]
}

@test "failed logins for unknown addresses leave no rows that grow without bound" {
	setup_kcsd "lockout_cooldown = 1" "redeem_cooldown = 1" "keycode_cooldown = 1"
	for i in $(seq 24); do
		api POST /v1/login -H 'Content-Type: application/json' \
			-d "{\"email\":\"ghost$i@example.com\",\"password\":\"whatever 12345\",\"accept_disclaimer\":true}" > /dev/null
	done
	[ "$(sql 'SELECT count(*) FROM login_failures')" -eq 24 ]
	sleep 2.1
	for i in 1 2; do
		api POST /v1/login -H 'Content-Type: application/json' \
			-d '{"email":"late@example.com","password":"whatever 12345","accept_disclaimer":true}' > /dev/null
	done
	# the counts older than the window went; the new one stays
	[ "$(sql 'SELECT count(*) FROM login_failures')" -eq 1 ]
}

@test "reads do not write: a session's last use is recorded once per session_touch" {
	setup_kcsd "session_touch = 3"
	add_operator
	active_locksmith g36d27a9 j@example.com
	login g36d27a9 j@example.com > /dev/null
	used=$(sql 'SELECT last_used_at FROM sessions ORDER BY id DESC LIMIT 1')
	audited=$(admin audit verify | jq .entries)
	sleep 1.1
	for _ in 1 2 3; do klogin status > /dev/null; "$B/kcs-ticket" status > /dev/null; klogin orders; done
	[ "$(sql 'SELECT last_used_at FROM sessions ORDER BY id DESC LIMIT 1')" -eq "$used" ]
	[ "$(admin audit verify | jq .entries)" -eq "$audited" ]
	sleep 2.2
	klogin status > /dev/null
	[ "$(sql 'SELECT last_used_at FROM sessions ORDER BY id DESC LIMIT 1')" -gt "$used" ]
}

@test "a read is not held up by a write transaction; a read that must write waits for it" {
	setup_kcsd "session_touch = 2"
	add_operator
	active_locksmith g36d27a9 j@example.com
	login g36d27a9 j@example.com > /dev/null
	hold_store
	run klogin status
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = Active ]
	# answered while the other transaction still held the store
	kill -0 "$HOLD_PID"
	# the session's last use is due: the read writes it, once the store is free
	sleep 2.1
	klogin status > "$T/status" &
	reader=$!
	sleep 0.5
	kill -0 "$reader"
	release_store
	wait "$reader"
	[ "$(jq -r .status "$T/status")" = Active ]
}

@test "the outside attack run, step by step, fails with one administrator's token alone" {
	setup_kcsd
	# an operator and a mail room of its own: tokens that do not work
	out=$(admin operator add evil-hotline)
	jq -r .token <<< "$out" > "$T/evil-op.token"
	run admin request approve "$(jq -r .request_id <<< "$out")"
	[ "$status" -eq 4 ]
	out=$(admin operator add evil-mail --role mailroom)
	jq -r .token <<< "$out" > "$T/evil-mail.token"
	run admin request approve "$(jq -r .request_id <<< "$out")"
	[ "$status" -eq 4 ]
	form g36d27a9 j@example.com > "$T/form.json"
	KCS_TOKEN_FILE=$T/evil-op.token run "$B/kcs-hotline" register < "$T/form.json"
	[ "$status" -eq 4 ]
	KCS_TOKEN_FILE=$T/evil-mail.token run "$B/kcs-mailroom" list < /dev/null
	[ "$status" -eq 4 ]
	# an SDRM ID with a password it chose, and a locksmith registered by a real operator
	add_sdrm g36d27a9
	add_operator
	hotline register < "$T/form.json" > /dev/null
	# the verification link, the temporary password and the address code stay out of reach
	for id in $(admin outbox list | jq -r .id); do
		refute grep -q 'verify-email\|[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{2\}' <(admin outbox show "$id")
	done
	refute grep -q 'verify-email' <(admin outbox list)
	KCS_TOKEN_FILE=$T/admin.token run "$B/kcs-mailroom" list < /dev/null
	[ "$status" -eq 4 ]
	# what it did is on record
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'operator.add.requested'")" -eq 3 ]
}
