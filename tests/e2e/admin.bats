#!/usr/bin/env bats
# kcs-admin: init, operators, the SDRM directory, the outbox.

load helper

setup() {
	setup_kcsd
}

@test "init refuses to overwrite a store or a key" {
	run "$B/kcs-admin" init --db "$DB" --key "$T/again.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"exists already"* || "$output" == *"initialised already"* ]]
	[ ! -e "$T/again.key" ]
	run "$B/kcs-admin" init --db "$T/other.db" --key "$T/kcs.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"refusing to overwrite a key"* ]]
	[ ! -e "$T/other.db" ]
	run "$B/kcs-admin" init
	[ "$status" -eq 2 ]
}

@test "operators: tokens shown once, 256-bit, stored hashed; a token works once approved, removal stops it" {
	run admin operator add alice
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = pending ]
	token=$(jq -r .token <<< "$output")
	id=$(jq -r .id <<< "$output")
	req=$(jq -r .request_id <<< "$output")
	[ ${#token} -eq 64 ]
	printf '%s' "$token" > "$T/alice.token"
	# not approved yet: the token does not work
	KCS_TOKEN_FILE=$T/alice.token run "$B/kcs-hotline" register --sdrm-id x < /dev/null
	[ "$status" -eq 4 ]
	# the request shows what is approved; the other administrator approves it
	run admin2 request list
	[ "$(jq -r .name <<< "$output")" = alice ]
	[ "$(jq -r .role <<< "$output")" = operator ]
	[ "$(jq -r .requested_by_name <<< "$output")" = admin-1 ]
	run admin2 request approve "$req"
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = approved ]
	run admin operator list
	[ "$status" -eq 0 ]
	[ "$(jq -s length <<< "$output")" -eq 3 ]
	refute grep -q "$token" <<< "$output"
	[ "$(sql "SELECT count(*) FROM operators WHERE token_hash = '$token'")" -eq 0 ]
	KCS_TOKEN_FILE=$T/alice.token run "$B/kcs-hotline" register --sdrm-id x < /dev/null
	[ "$status" -eq 3 ] # reached the handler: the form is incomplete
	run admin operator remove "$id"
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = pending ]
	# a removal waits for its approval too
	KCS_TOKEN_FILE=$T/alice.token run "$B/kcs-hotline" register --sdrm-id x < /dev/null
	[ "$status" -eq 3 ]
	run admin operator remove "$id"
	[ "$status" -eq 1 ]
	run admin2 request approve "$(admin2 request list | jq -r .request_id)"
	[ "$status" -eq 0 ]
	KCS_TOKEN_FILE=$T/alice.token run "$B/kcs-hotline" register --sdrm-id x < /dev/null
	[ "$status" -eq 4 ]
	run admin operator remove "$id"
	[ "$status" -eq 1 ]
	run admin operator remove abc
	[ "$status" -eq 3 ]
}

@test "no one administrator adds or removes a privileged role alone; a request expires; all audited" {
	for role in operator mailroom admin; do
		run admin operator add "x-$role" --role "$role"
		[ "$status" -eq 0 ]
		req=$(jq -r .request_id <<< "$output")
		run admin request approve "$req"
		[ "$status" -eq 4 ]
		[[ "$output" == *"another administrator must approve"* ]]
		run admin request refuse "$req"
		[ "$status" -eq 0 ]
		[ "$(jq -r .status <<< "$output")" = refused ]
		run admin2 request approve "$req"
		[ "$status" -eq 1 ]
	done
	[ "$(admin operator list | jq -s 'map(select(.approved_at != null)) | length')" -eq 2 ]
	# an administrator removing the other alone: not without the other
	run admin operator remove 2
	[ "$status" -eq 0 ]
	run admin request approve "$(jq -r .request_id <<< "$output")"
	[ "$status" -eq 4 ]
	# requests expire
	reconfigure "request_lifetime = 60"
	run admin operator add late
	req=$(jq -r .request_id <<< "$output")
	sql "UPDATE requests SET expires_at = expires_at - 61 WHERE id = $req"
	run admin2 request approve "$req"
	[ "$status" -eq 1 ]
	[[ "$output" == *expired* ]]
	[ -z "$(admin2 request list | jq -r "select(.request_id == $req)")" ]
	for e in operator.add.requested operator.add.refused operator.remove.requested; do
		[ "$(sql "SELECT count(*) FROM audit WHERE event = '$e'")" -ge 1 ]
	done
	[ "$(admin audit verify | jq -r .intact)" = true ]
}

@test "with admin_self_approval = yes one administrator may approve its own requests, and kcsd says so" {
	reconfigure "admin_self_approval = yes"
	grep -q 'admin_self_approval = yes: one administrator alone' "$T/kcsd.log"
	[ "$(curl -fsS "$KCS_URL/v1/health" | jq -r .role_changes)" = "one administrator (admin_self_approval)" ]
	run admin operator add solo
	run admin request approve "$(jq -r .request_id <<< "$output")"
	[ "$status" -eq 0 ]
	# the last administrator still cannot go
	run admin operator remove 2
	run admin request approve "$(jq -r .request_id <<< "$output")"
	[ "$status" -eq 0 ]
	run admin operator remove 1
	run admin request approve "$(jq -r .request_id <<< "$output")"
	[ "$status" -eq 1 ]
	[[ "$output" == *"last administrator"* ]]
	run reconfigure "admin_self_approval = maybe"
	[ "$status" -ne 0 ]
	grep -q 'admin_self_approval: .*must be yes or no' "$T/kcsd.log"
}

@test "an operator token cannot administer; a mistyped role is refused" {
	add_operator
	KCS_TOKEN_FILE=$T/operator.token run "$B/kcs-admin" operator list
	[ "$status" -eq 4 ]
	[[ "$output" == *"administrator token"* ]]
	KCS_TOKEN_FILE=$T/operator.token run "$B/kcs-admin" request approve 1
	[ "$status" -eq 4 ]
	run admin operator add bob --role superuser
	[ "$status" -eq 3 ]
	[[ "$output" == *"role:"* ]]
	[ "$(curl -fsS "$KCS_URL/v1/health" | jq -r .role_changes)" = "two administrators" ]
}

@test "tokens come from a file, the config or the environment, never argv" {
	run "$B/kcs-admin" operator list < /dev/null
	[ "$status" -eq 4 ]
	[[ "$output" == *"no token"* ]]
	run "$B/kcs-hotline" orders < /dev/null
	[ "$status" -eq 4 ]
	KCS_TOKEN=$(cat "$T/admin.token") run "$B/kcs-admin" operator list < /dev/null
	[ "$status" -eq 0 ]
	mkdir -p "$T/config/kcs"
	printf 'url = %s\ntoken_file = %s\n' "$KCS_URL" "$T/admin.token" > "$T/config/kcs/config"
	env -u KCS_URL "$B/kcs-admin" operator list < /dev/null
}

@test "sdrm: add, duplicate, remove; the password is hashed" {
	add_sdrm g36d27a9 "plain sdrm pw"
	run add_sdrm g36d27a9
	[ "$status" -eq 1 ]
	[[ "$output" == *"sdrm_id: SDRM ID g36d27a9 is in the directory already"* ]]
	[[ "$(sql "SELECT pwhash FROM sdrm")" == '$argon2id$'* ]]
	run admin sdrm remove g36d27a9
	[ "$status" -eq 0 ]
	run admin sdrm remove g36d27a9
	[ "$status" -eq 1 ]
	run admin sdrm remove '../operators'
	[ "$status" -eq 3 ]
}

@test "sdrm: an SDRM ID in use by an account cannot be removed" {
	add_operator
	add_sdrm g36d27a9
	register g36d27a9 j@example.com > /dev/null
	run admin sdrm remove g36d27a9
	[ "$status" -eq 1 ]
	[[ "$output" == *"a locksmith account uses"* ]]
}

@test "sdrm import: all or none; a bad line is named by number" {
	printf '{"sdrm_id":"a1","password":"p1"}\n{"sdrm_id":"a2","password":"p2"}\n' > "$T/good.jsonl"
	printf '{"sdrm_id":"b1","password":"p1"}\nnot json\n' > "$T/bad.jsonl"
	printf '{"sdrm_id":"c1","password":"p1"}\n{"sdrm_id":"c 2","password":"p2"}\n' > "$T/badid.jsonl"
	printf '{"sdrm_id":"d1","password":"p1"}\n{"sdrm_id":"d1","password":"p2"}\n' > "$T/dup.jsonl"
	run admin sdrm import "$T/bad.jsonl"
	[ "$status" -eq 3 ]
	[[ "$output" == *"bad.jsonl:2:"* ]]
	run admin sdrm import "$T/badid.jsonl"
	[ "$status" -eq 3 ]
	[[ "$output" == *"entries[1].sdrm_id"* ]]
	run admin sdrm import "$T/dup.jsonl"
	[ "$status" -eq 1 ]
	[ "$(sql 'SELECT count(*) FROM sdrm')" -eq 0 ]
	run admin sdrm import "$T/good.jsonl"
	[ "$status" -eq 0 ]
	[ "$(jq -r .added <<< "$output")" -eq 2 ]
	KCS_TOKEN_FILE=$T/admin.token run "$B/kcs-admin" sdrm import - < "$T/good.jsonl"
	[ "$status" -eq 1 ]
}

@test "outbox: e-mails are RFC 5322, letters plain text; sealed in the store; no API shows their text" {
	add_operator
	add_sdrm g36d27a9
	register g36d27a9 j@example.com > /dev/null
	run admin outbox show 1
	[ "$status" -eq 0 ]
	[ "$(jq -r .recipient <<< "$output")" = j@example.com ]
	[ "$(jq -r .status <<< "$output")" = queued ]
	[ "$(jq -c 'has("message") or has("sealed")' <<< "$output")" = false ]
	refute grep -q verify-email <<< "$output"
	msg=$(cat "$T/spool/$(jq -r .file <<< "$output")")
	grep -q '^To: <j@example.com>' <<< "$msg"
	grep -q '^Date: ' <<< "$msg"
	grep -qF "Message-ID: $(jq -r .message_id <<< "$output")" <<< "$msg"
	message "Joern Wellniak" | grep -q "Sacramento, CA 95814"
	run admin outbox list
	refute grep -q verify-email <<< "$output"
	run admin outbox show 99
	[ "$status" -eq 1 ]
	run admin outbox show 1 --raw
	[ "$status" -eq 2 ]
	refute grep -aq verify-email <(store_bytes)
}

@test "spool files are written after the commit; a crash's leftovers are mended at start" {
	add_operator
	add_sdrm g36d27a9
	# a change that fails at its end leaves no message and no file
	fail_inserts audit "NEW.event = 'account.registered'"
	run register g36d27a9 j@example.com
	[ "$status" -eq 6 ]
	allow_inserts audit
	[ -z "$(ls "$T/spool" 2> /dev/null)" ]
	[ "$(admin outbox list | jq -s length)" -eq 0 ]
	register g36d27a9 j@example.com > /dev/null
	# the e-mail; the letter is the mail room's, never a file
	[ "$(ls "$T/spool" | wc -l)" -eq 1 ]
	# a file lost and a half-written one, as a crash would leave them
	lost=$(ls "$T/spool" | grep eml)
	cp "$T/spool/$lost" "$T/kept"
	rm "$T/spool/$lost"
	echo partial > "$T/spool/$lost.tmp.4242"
	stop_kcsd
	start_kcsd
	grep -q 'wrote 1 message file missing after a crash' "$T/kcsd.log"
	cmp "$T/spool/$lost" "$T/kept"
	[ ! -e "$T/spool/$lost.tmp.4242" ]
	[ "$(ls "$T/spool" | wc -l)" -eq 1 ]
}

@test "kcsd init makes the store and the key; kcs-admin init runs it; neither overwrites" {
	run "$B/kcsd" init --db "$T/new.db" --key "$T/new.key"
	[ "$status" -eq 0 ]
	[ ${#output} -gt 60 ]
	[ "$(jq -r .key_file <<< "$output")" = "$T/new.key" ]
	[ "$(stat -c %a "$T/new.key")" = 600 ]
	run "$B/kcsd" init --db "$T/new.db" --key "$T/other.key"
	[ "$status" -eq 1 ]
	[ ! -e "$T/other.key" ]
	run "$B/kcsd" init --db "$T/third.db" --key "$T/new.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"refusing to overwrite a key"* ]]
	[ ! -e "$T/third.db" ]
	# the client links no store: it has kcsd do it
	refute grep -q sqlite3_open "$B/kcs-admin"
}
