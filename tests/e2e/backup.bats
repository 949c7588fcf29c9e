#!/usr/bin/env bats
# kcs-admin backup and restore: an encrypted, checked copy of the SQLite
# store made while kcsd writes, restored into a working kcsd; a changed, cut
# or foreign backup refused; no restore under a running kcsd. A PostgreSQL
# store is backed up with PostgreSQL's tools, and kcs says so.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd
}

local_admin() { "$B/kcs-admin" "$@" --db "$DB" --key "$T/kcs.key" < /dev/null; }
dealers() { sql "SELECT count(*) FROM dealers"; }

@test "backup under a write load: every write acknowledged before it began is in it; it restores into a fresh kcsd" {
	[ "$ENGINE" = sqlite ] || {
		run local_admin backup "$T/b.kcsb"
		[ "$status" -eq 1 ]
		[[ "$output" == *"a PostgreSQL store is backed up with PostgreSQL's tools: pg_dump"* ]]
		[ ! -e "$T/b.kcsb" ]
		return 0
	}
	# a file that cannot be written: refused, naming it, nothing written
	run local_admin backup "$T/missing/b.kcsb"
	[ "$status" -eq 6 ]
	[[ "$output" == *"$T/missing/.kcs-sealed-"*"No such file or directory"* ]]
	[ -z "$(ls -A "$T" | grep '^\.kcs-')" ]
	# a writer acknowledging dealers one after another
	(
		for i in $(seq 1 100000); do
			admin dealer add "W$i" --dpn 7 --outlet "$i" > /dev/null 2>&1 && echo "$i" >> "$T/acked"
		done
	) &
	writer=$!
	while [ "$(wc -l < "$T/acked" 2> /dev/null || echo 0)" -lt 20 ]; do sleep 0.05; done
	before=$(wc -l < "$T/acked")
	run local_admin backup "$T/b.kcsb"
	kill "$writer"
	wait "$writer" || true
	[ "$status" -eq 0 ]
	[ "$(jq -r .quick_check <<< "$output")" = ok ]
	[ "$(stat -c %a "$T/b.kcsb")" = 600 ]
	# nothing of the store in clear
	refute grep -qa 'store.initialised\|SQLite format' "$T/b.kcsb"
	# restored beside, and served
	stop_kcsd
	run "$B/kcs-admin" restore "$T/b.kcsb" --db "$T/restored.db" --key "$T/kcs.key"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.valid, .integrity_check, .restored] | join(" ")' <<< "$output")" = "true ok $T/restored.db" ]
	DB=$T/restored.db
	store_args
	start_kcsd
	[ "$(dealers)" -ge "$before" ]
	run admin audit verify
	[ "$(jq -r .intact <<< "$output")" = true ]
	run admin dealer add After --dpn 8 --outlet 1
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$T" | grep '^\.kcs-')" ]
}

@test "restore: refused while kcsd runs; a changed, cut or foreign backup refused and the store left as it was; a good one puts it back" {
	[ "$ENGINE" = sqlite ] || {
		run local_admin restore "$T/none.kcsb"
		[ "$status" -eq 1 ]
		[[ "$output" == *"PostgreSQL's tools"* ]]
		return 0
	}
	admin dealer add D1 --dpn 1 --outlet 1 > /dev/null
	local_admin backup "$T/b.kcsb" > /dev/null
	admin dealer add D2 --dpn 1 --outlet 2 > /dev/null
	run local_admin restore "$T/b.kcsb"
	[ "$status" -eq 1 ]
	[[ "$output" == *"a kcsd is serving $DB: stop it before restoring"* ]]
	stop_kcsd
	[ "$(dealers)" = 2 ]
	cp "$T/b.kcsb" "$T/changed.kcsb"
	printf 'X' | dd of="$T/changed.kcsb" bs=1 seek=5000 conv=notrunc 2> /dev/null
	run local_admin restore "$T/changed.kcsb"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not authenticate: the backup was changed, or made with another key file"* ]]
	head -c 70000 "$T/b.kcsb" > "$T/cut.kcsb"
	run local_admin restore "$T/cut.kcsb"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cut short"* ]]
	{ cat "$T/b.kcsb"; printf 'more'; } > "$T/long.kcsb"
	run local_admin restore "$T/long.kcsb"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bytes follow the backup's last chunk"* ]]
	"$B/kcs-admin" init --db "$T/other.db" --key "$T/other.key" > /dev/null
	run "$B/kcs-admin" restore "$T/b.kcsb" --db "$DB" --key "$T/other.key"
	[ "$status" -eq 1 ]
	[[ "$output" == *"made with another key file"* ]]
	run local_admin restore "$T/init.json"
	[ "$status" -eq 3 ]
	[[ "$output" == *"not a kcs backup"* ]]
	[ "$(dealers)" = 2 ]
	[ -z "$(ls -A "$T" | grep '^\.kcs-')" ]
	# --verify checks and changes nothing
	run local_admin backup --verify "$T/b.kcsb"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.valid, .restored] | join(" ")' <<< "$output")" = "true " ]
	[ "$(dealers)" = 2 ]
	run local_admin restore "$T/b.kcsb"
	[ "$status" -eq 0 ]
	[ "$(dealers)" = 1 ]
	start_kcsd
	run admin dealer list
	[ "$(jq -r .name <<< "$output")" = D1 ]
}
