/* mailroom.c: the mail room, a role of its own, prints and posts the
 * letters (the address verification code, packing slips). It alone reads
 * a letter's text; each fetch is audited, and a letter's body is destroyed
 * once it is marked sent. */
#include <stdio.h>
#include <string.h>

#include "kcsd.h"

int
h_letters(struct req *r)
{
	cJSON *rows;
	int rc = store_letters_queued(r->tx, &rows);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "letters", rows);
	return 200;
}

int
h_letter_get(struct req *r)
{
	cJSON *m, *text;
	const char *kind, *status;
	long long id;
	int rc;

	if (kcs_id_parse(r->arg, "id", &id) != KCS_OK)
		return fail(r, 400, "invalid", "id", "%s", kcs_errmsg());
	if ((rc = outbox_read(r->tx, id, &m)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "id", "no letter %lld", id);
	if (rc == STORE_CONFLICT)
		return fail(r, 500, "internal", NULL, "letter %lld is damaged or does not open with this key", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	kind = kcs_json_str(m, "kind");
	status = kcs_json_str(m, "status");
	if (!kind || strcmp(kind, "letter") != 0) {
		outbox_wipe(m);
		return fail(r, 404, "not_found", "id", "no letter %lld", id);
	}
	if (!status || strcmp(status, "queued") != 0) {
		outbox_wipe(m);
		return fail(r, 409, "already_sent", "id", "letter %lld is sent: its text is destroyed", id);
	}
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "id", (double)id);
	cJSON_AddStringToObject(r->out, "recipient", kcs_json_str(m, "recipient"));
	cJSON_AddStringToObject(r->out, "subject", kcs_json_str(m, "subject"));
	text = cJSON_DetachItemFromObject(m, "message");
	cJSON_AddItemToObject(r->out, "text", text);
	outbox_wipe(m);
	return audit_event(r, "letter.fetched", r->arg, NULL) ?: 200;
}

int
h_letter_sent(struct req *r)
{
	static const char *const ok[] = { "id", NULL };
	char subject[32];
	long long id;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_int(r, "id", 1, KCS_ID_MAX, 1, &id)))
		return rc;
	if ((rc = store_letter_sent(r->tx, id, r->now)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "id", "no letter %lld waiting to be sent", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	snprintf(subject, sizeof subject, "%lld", id);
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "id", (double)id);
	cJSON_AddStringToObject(r->out, "status", "sent");
	return audit_event(r, "letter.sent", subject, NULL) ?: 200;
}
