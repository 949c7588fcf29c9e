#!/usr/bin/env bats
# Signed audit checkpoints: kcsd seals the audit log's tree, and a
# regulator checks an export offline with the log's key alone; every
# tampering is found, in the export or in the store.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd "audit_origin = kcs.example/audit"
	for i in 1 2 3 4 5 6; do admin dealer add "D$i" --dpn 1 --outlet "$i" > /dev/null; done
	admin audit checkpoint > "$T/c1.json"
	jq -r .checkpoint "$T/c1.json" > "$T/c1.note"
	KEY=$(jq -r .key "$T/c1.json")
	for i in 7 8 9; do admin dealer add "D$i" --dpn 1 --outlet "$i" > /dev/null; done
	admin audit checkpoint > "$T/c2.json"
	admin audit export > "$T/export"
}

verify() { "$B/kcs-admin" audit verify-export "$@" --log-key "$KEY" < /dev/null; }
# the export with line N (1 is the header) replaced by the output of a jq filter
edit() { # LINE FILTER
	{ head -n $(($1 - 1)) "$T/export"; sed -n "$1p" "$T/export" | jq -c "$2"; tail -n +$(($1 + 1)) "$T/export"; } > "$T/bad"
}

@test "checkpoint: signed with the log's key, as the C2SP format says; the export verifies offline, complete and extending the earlier one" {
	[ "$(jq -r '[.new, .size] | join(" ")' "$T/c1.json")" = "true 7" ]
	[ "$(jq -r '[.new, .size] | join(" ")' "$T/c2.json")" = "true 10" ]
	[[ "$KEY" == kcs.example/audit+*+* ]]
	[ "$(sed -n 1,3p "$T/c1.note" | head -1)" = kcs.example/audit ]
	[ "$(sed -n 2p "$T/c1.note")" = 7 ]
	grep -q '^— kcs.example/audit ' "$T/c1.note"
	# nothing new: the same checkpoint
	run admin audit checkpoint
	[ "$(jq -r '[.new, .size] | join(" ")' <<< "$output")" = "false 10" ]
	run verify "$T/export" --previous "$T/c1.note"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.valid, .size, .entries, .complete, .extends] | join(" ")' <<< "$output")" = "true 10 10 true 7" ]
	# no kcsd is needed
	stop_kcsd
	run verify "$T/export"
	[ "$status" -eq 0 ]
	start_kcsd
	# a part, with the consistency proof from the earlier checkpoint
	admin audit export --from 8 --to 10 --since 7 > "$T/part"
	run verify "$T/part" --previous "$T/c1.note"
	[ "$status" -eq 1 ]
	[[ "$output" == *"holds entries 8 to 10 of the 10"* ]]
	run verify "$T/part" --previous "$T/c1.note" --partial
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.from, .to, .complete, .extends] | join(" ")' <<< "$output")" = "8 10 false 7" ]
	# another key of the same name (the test vectors')
	run "$B/kcs-admin" audit verify-export "$T/export" --log-key "$(jq -r .note.vkey "$TOP/tests/vectors/tlog.json")"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no signature of kcs.example/audit verifies the checkpoint"* ]]
}

@test "verify-export: a changed, deleted, reordered or cut entry, a forged checkpoint and the wrong key are each found" {
	edit 5 '.subject = "dealer:99"'
	run verify "$T/bad"
	[ "$status" -eq 1 ]
	[[ "$output" == *"entry 4 does not match the checkpoint: it was changed"* ]]
	edit 3 '.at += 1'
	run verify "$T/bad"
	[[ "$output" == *"entry 2 does not match the checkpoint"* ]]
	sed 4d "$T/export" > "$T/bad"
	run verify "$T/bad"
	[[ "$output" == *"entry 3 is missing (line 4 holds entry 4)"* ]]
	{ sed -n 1,3p "$T/export"; sed -n 5p "$T/export"; sed -n 4p "$T/export"; tail -n +6 "$T/export"; } > "$T/bad"
	run verify "$T/bad"
	[ "$status" -eq 1 ]
	[[ "$output" == *"entry 3 is missing (line 4 holds entry 4)"* ]]
	head -n -2 "$T/export" > "$T/bad"
	run verify "$T/bad"
	[[ "$output" == *"the export ends at entry 8, not at 10: it was cut short"* ]]
	# a header claiming fewer entries is not what the checkpoint seals
	edit 1 '.to = 8'
	head -n -2 "$T/bad" > "$T/bad2"
	run verify "$T/bad2"
	[[ "$output" == *"holds entries 1 to 8 of the 10 the checkpoint seals"* ]]
	# the checkpoint's root or size changed: its signature fails
	edit 1 '.checkpoint |= sub("\n10\n"; "\n8\n")'
	run verify "$T/bad"
	[[ "$output" == *"no signature of kcs.example/audit verifies the checkpoint"* ]]
	# not a key
	run "$B/kcs-admin" audit verify-export "$T/export" --log-key "x+00000000+AAAA"
	[ "$status" -eq 3 ]
	run "$B/kcs-admin" audit verify-export "$T/export"
	[ "$status" -eq 2 ]
}

@test "the store: entries removed or changed after a checkpoint are refused by kcsd, and an earlier checkpoint shows the rewrite offline" {
	audit_unguard
	sql "DELETE FROM audit WHERE id > 8"
	sql "UPDATE audit_head SET seq = 8, hash = (SELECT hash FROM audit WHERE id = 8)"
	run admin audit checkpoint
	[ "$status" -eq 1 ]
	[[ "$output" == *"the audit log holds 8 entries, fewer than the 10 that the checkpoint"* ]]
	# changed
	admin dealer add D10 --dpn 1 --outlet 10 > /dev/null
	admin dealer add D11 --dpn 1 --outlet 11 > /dev/null
	sql "UPDATE audit SET subject = 'dealer:99' WHERE id = 3"
	run admin audit checkpoint
	[ "$status" -eq 1 ]
	[[ "$output" == *"entries 1 to 10 of the audit log are not those the last checkpoint sealed"* ]]
	# someone with the store removes the checkpoints too: kcsd signs the
	# rewritten log, and the regulator's earlier checkpoint finds it
	sql "DELETE FROM audit_checkpoints"
	admin audit checkpoint > /dev/null
	admin audit export > "$T/rewritten"
	run verify "$T/rewritten"
	[ "$status" -eq 0 ]
	run verify "$T/rewritten" --previous "$T/c1.note"
	[ "$status" -eq 1 ]
	[[ "$output" == *"entries 1 to 7 are not those the earlier checkpoint sealed: the log was rewritten"* ]]
}

@test "maintain writes a checkpoint; the maintenance token may, the export is an administrator's" {
	grant cron maintenance > "$T/maint.token"
	n=$(sql "SELECT count(*) FROM audit")
	run env KCS_TOKEN_FILE="$T/maint.token" "$B/kcs-admin" maintain checkpoint
	[ "$status" -eq 0 ]
	[ "$(jq -r '.tasks.checkpoint | [.new, .size] | join(" ")' <<< "$output")" = "true $n" ]
	run env KCS_TOKEN_FILE="$T/maint.token" "$B/kcs-admin" audit export
	[ "$status" -eq 4 ]
	run admin audit key
	[ "$(jq -r '[.key, .size] | join(" ")' <<< "$output")" = "$KEY $n" ]
}
