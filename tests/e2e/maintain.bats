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

@test "maintain mail: what was delivered, tried again and given up since the last run" {
	start_smtp
	printf '%s\n' "r@example.com 450 0 mailbox busy" "f@example.com 550 0 no such user" > "$T/smtp/rules"
	reconfigure "smtp_url = $SMTP_URL" "smtp_retry = 3600"
	queued() { sql "SELECT count(*) FROM outbox WHERE kind = 'email' AND status IN ('queued', 'sending') AND attempts = 0"; }
	for _ in $(seq 100); do [ "$(queued)" = 0 ] && break; sleep 0.1; done
	[ "$(queued)" = 0 ]
	sent=$(sql "SELECT count(*) FROM outbox WHERE kind = 'email' AND status = 'sent'")
	[ "$sent" -ge 2 ]
	run maint mail
	[ "$status" -eq 0 ]
	[ "$(jq -r '.tasks.mail | [.since_at, .delivered, .retried, .failed, .posted] | map(tostring) | join(" ")' <<< "$output")" = "null $sent 0 0 0" ]
	first=$(jq -r .started_at <<< "$output")
	# what ended before this run is not counted again
	sql "UPDATE outbox SET delivered_at = delivered_at - 10, settled_at = settled_at - 10"
	for a in r f d; do
		add_sdrm "${a}36d27a9"
		register "${a}36d27a9" "$a@example.com" > /dev/null
	done
	for _ in $(seq 100); do [ "$(queued)" = 0 ] && break; sleep 0.1; done
	[ "$(queued)" = 0 ]
	[ "$(sql "SELECT status FROM outbox WHERE recipient = 'r@example.com'")" = queued ]
	run maint mail
	[ "$(jq -r '.tasks.mail | [.since_at, .delivered, .retried, .failed] | join(" ")' <<< "$output")" = "$first 1 1 1" ]
	sql "UPDATE outbox SET delivered_at = delivered_at - 10, settled_at = settled_at - 10"
	run maint mail
	[ "$(jq -r '.tasks.mail | [.delivered, .retried, .failed] | join(" ")' <<< "$output")" = "0 0 0" ]
	stop_smtp
}

@test "maintain backup: into backup_dir when due, once per backup_every, the oldest beyond backup_keep removed; a failure exits 6 and is tried again" {
	if [ "$ENGINE" = pg ]; then
		reconfigure "backup_dir = $T/backups"
		run maint
		[ "$status" -eq 0 ]
		[[ "$(jq -r .tasks.backup.skipped <<< "$output")" == *"PostgreSQL's tools"* ]]
		[ ! -e "$T/backups" ]
		return
	fi
	run maint backup
	[ "$(jq -r .tasks.backup.skipped <<< "$output")" = "backup_dir is not set (kcs.conf(5))" ]
	reconfigure "backup_dir = $T/backups" "backup_keep = 2" "backup_every = 3600"
	run maint
	[ "$status" -eq 0 ]
	[ "$(jq -r '.tasks.backup.due' <<< "$output")" = true ]
	file=$(jq -r .tasks.backup.file <<< "$output")
	[[ "$file" == "$T/backups/kcs-"*.kcsb ]]
	[ "$(stat -c %a "$T/backups")" = 700 ] && [ "$(stat -c %a "$file")" = 600 ]
	"$B/kcs-admin" restore --verify "$file" --db "$DB" --key "$T/kcs.key" | jq -e .valid > /dev/null
	[ "$(jq -r .tasks.backup.audit_entries <<< "$output")" -gt 0 ]
	# not due again within backup_every
	run maint backup
	[ "$(jq -r '[.tasks.backup.due, (.tasks.backup.next_at | length > 0)] | join(" ")' <<< "$output")" = "false true" ]
	[ "$(ls "$T/backups" | wc -l)" = 1 ]
	# due: two runs at once write one backup
	sql "UPDATE backups SET created_at = created_at - 3600"
	maint backup > "$T/a.json" &
	a=$!
	maint backup > "$T/b.json" &
	b=$!
	wait "$a"
	wait "$b"
	[ "$(jq -rs 'map(.tasks.backup.due | tostring) | sort | join(" ")' "$T/a.json" "$T/b.json")" = "false true" ]
	[ "$(ls "$T/backups" | wc -l)" = 2 ]
	# a third: the oldest goes
	sql "UPDATE backups SET created_at = created_at - 3600"
	run maint backup
	[ "$(jq -r .tasks.backup.removed <<< "$output")" = 1 ]
	[ "$(ls "$T/backups" | wc -l)" = 2 ]
	[ -e "$(jq -r .tasks.backup.file <<< "$output")" ] && [ ! -e "$file" ]
	# a backup that cannot be written: exit 6, the other tasks done, tried at the next run
	sql "UPDATE backups SET created_at = created_at - 3600"
	mv "$T/backups" "$T/backups.old" && touch "$T/backups"
	run maint
	[ "$status" -eq 6 ]
	[[ "$output" == *"the backup failed:"* ]]
	[ "$(jq -r '.failed_tasks | join(" ")' <<< "$(head -n -1 <<< "$output")")" = backup ]
	[ "$(sql "SELECT status FROM backups ORDER BY id DESC LIMIT 1")" = failed ]
	rm "$T/backups"
	run maint backup
	[ "$status" -eq 0 ]
	[ "$(jq -r .tasks.backup.due <<< "$output")" = true ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'maintenance'")" -ge 6 ]
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
