#!/usr/bin/env bats
# kcs-admin maintain, as cron runs it: sessions past their lifetime end;
# ended sessions, used and lapsed codes, lapsed tickets and calls, key reads
# past their retention and the spool copies of delivered messages go; the
# mail is reported. Idempotent, one run at a time.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd "purge_after = 0"
	add_operator
	grant cron maintenance > "$T/maint.token"
	active_locksmith g36d27a9 j@example.com
}

maint() { KCS_TOKEN_FILE=$T/maint.token "$B/kcs-admin" maintain "$@" < /dev/null; }
count() { sql "SELECT count(*) FROM $1"; }
# times in a table moved back by $AGE seconds (two days), as if it were that old
AGE=172800
age() { # TABLE COLUMN...
	local t=$1 set=
	shift
	for c in "$@"; do set="$set${set:+, }$c = $c - $AGE"; done
	sql "UPDATE $t SET $set"
}

@test "maintain: sessions past their lifetime end, what lingers is deleted, the summary counts it; run again, nothing is left" {
	"$B/kcs-ticket" --accept-disclaimer > /dev/null
	age sessions created_at last_used_at
	age tickets created_at expires_at
	live=$(sql "SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
	sessions=$(count sessions)
	codes=$(sql "SELECT count(*) FROM codes WHERE used_at IS NOT NULL OR expires_at <= $(date +%s)")
	[ "$live" -ge 1 ] && [ "$codes" -ge 2 ]
	run maint
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.tasks.expire.sessions_ended, .tasks.expire.tickets_lapsed] | join(" ")' <<< "$output")" = "$live 1" ]
	[ "$(jq -r '[.tasks.purge.sessions, .tasks.purge.codes, .tasks.purge.tickets, .tasks.purge.calls, .tasks.purge.key_reads] | join(" ")' <<< "$output")" = \
	  "$sessions $codes 1 0 0" ]
	[ "$(count sessions) $(count tickets)" = "0 0" ]
	[ "$(sql "SELECT count(*) FROM codes WHERE used_at IS NOT NULL")" = 0 ]
	# the locksmith's old token is gone
	run "$B/kcs-login" status < /dev/null
	[ "$status" -eq 4 ]
	# idempotent
	run maint
	[ "$(jq -c '[.tasks.expire.sessions_ended, .tasks.purge[]]' <<< "$output")" = '[0,0,0,0,0,0,0,0]' ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'maintenance'")" = 2 ]
	# a redeemed ticket and its call, the order's record, stay
	login g36d27a9 j@example.com > /dev/null
	call > /dev/null
	age tickets created_at expires_at
	age calls created_at expires_at
	run maint purge
	[ "$(jq -r '[.tasks.purge.tickets, .tasks.purge.calls] | join(" ")' <<< "$output")" = "0 1" ]
	[ "$(jq -r '.tasks | keys | join(" ")' <<< "$output")" = purge ]
	[ "$(count tickets)" = 1 ]
}

@test "maintain: purge_after keeps what ended for a while; key reads go after their retention" {
	reconfigure "purge_after = 86400"
	AGE=86400 age sessions created_at last_used_at
	live=$(sql "SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
	run maint
	[ "$(jq -r '[.tasks.expire.sessions_ended, .tasks.purge.sessions] | join(" ")' <<< "$output")" = "$live 0" ]
	# ended a day and more ago: gone
	sql "UPDATE sessions SET revoked_at = revoked_at - 90000"
	run maint
	[ "$(jq -r .tasks.purge.sessions <<< "$output")" -ge 1 ]
	[ "$(count sessions)" = 0 ]
	admin dealer add D --dpn 1 --outlet 1 > /dev/null
	admin keypool client add r --dealer 1 --role reader | jq -r .token > "$T/reader.token"
	KCS_TOKEN_FILE=$T/reader.token "$B/kcs-keypool" push --vin "$VIN" --mileage 10 < /dev/null > /dev/null
	KCS_TOKEN_FILE=$T/reader.token "$B/kcs-keypool" push --vin "$VIN2" --mileage 10 < /dev/null > /dev/null
	sql "UPDATE key_reads SET read_at = read_at - 8 * 86400 WHERE vin = '$VIN'"
	run maint purge
	[ "$(jq -r .tasks.purge.key_reads <<< "$output")" = 1 ]
	[ "$(sql "SELECT vin FROM key_reads")" = "$VIN2" ]
}

@test "maintain: a delivered message's spool copy, which holds a secret in clear, is deleted" {
	file=$(sql "SELECT file FROM outbox WHERE kind = 'email' AND subject LIKE '%temporary%'")
	[ -n "$file" ] && [ -f "$T/spool/$file" ]
	qp_text < "$T/spool/$file" | grep -q 'temporary password'

	run maint purge
	[ "$(jq -r .tasks.purge.spool_files <<< "$output")" = 0 ]
	[ -f "$T/spool/$file" ]
	# delivered (by the operator's mailer, or SMTP) but its copy left behind
	sql "UPDATE outbox SET status = 'sent' WHERE file = '$file'"
	run maint purge
	[ "$(jq -r .tasks.purge.spool_files <<< "$output")" = 1 ]
	[ ! -e "$T/spool/$file" ]
	[ "$(sql "SELECT count(*) FROM outbox WHERE file = '$file'")" = 0 ]
	run maint purge
	[ "$(jq -r .tasks.purge.spool_files <<< "$output")" = 0 ]
}

@test "maintain mail: the outbox by kind and status, letters waiting longer than letter_warn" {
	run maint mail
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.tasks.mail.smtp, .tasks.mail.letter.queued, (.tasks.mail.letters_waiting | length)] | join(" ")' <<< "$output")" = "false 1 0" ]
	[ "$(jq -r .tasks.mail.email.queued <<< "$output")" -ge 2 ]
	age outbox created_at
	run maint mail
	[ "$(jq -r '.tasks.mail.letters_waiting | length' <<< "$output")" = 1 ]
	[ "$(jq -r '.tasks.mail.letters_waiting[0] | [.recipient, .waiting_seconds >= 172800] | join(" ")' <<< "$output")" = "Joern Wellniak true" ]
	# posted, it waits no more
	mailroom sent "$(mailroom list | jq -r .id)" > /dev/null
	run maint mail
	[ "$(jq -r '[.tasks.mail.letter.sent, (.tasks.mail.letters_waiting | length)] | join(" ")' <<< "$output")" = "1 0" ]
}

@test "maintain: two runs at once take turns: each lapsed ticket is deleted once, and both summaries are whole" {
	for _ in 1 2 3 4 5; do "$B/kcs-ticket" --accept-disclaimer > /dev/null; done
	age tickets created_at expires_at
	[ "$(count tickets)" = 5 ]
	maint purge > "$T/a.json" &
	a=$!
	maint purge > "$T/b.json" &
	b=$!
	wait "$a"
	wait "$b"
	[ "$(jq -s 'map(.tasks.purge.tickets) | add' "$T/a.json" "$T/b.json")" = 5 ]
	[ "$(jq -rs 'map(.tasks.purge.tickets) | sort | map(tostring) | join(" ")' "$T/a.json" "$T/b.json")" = "0 5" ]
	[ "$(count tickets)" = 0 ]
}

@test "maintain: the maintenance token runs maintain and nothing else; the hotline cannot; a bad task is refused" {
	run env KCS_TOKEN_FILE="$T/maint.token" "$B/kcs-admin" operator list
	[ "$status" -eq 4 ]
	run env KCS_TOKEN_FILE="$T/operator.token" "$B/kcs-admin" maintain
	[ "$status" -eq 4 ]
	run admin maintain expire
	[ "$status" -eq 0 ]
	run maint sweep
	[ "$status" -eq 2 ]
	run api POST /v1/admin/maintain -H "Authorization: Bearer $(cat "$T/maint.token")" -H 'Content-Type: application/json' -d '{"tasks":["expire","nap"]}'
	[ "$(tail -1 <<< "$output")" = 400 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'maintenance'")" = 1 ]
}
